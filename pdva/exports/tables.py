"""The tables every export is built from, in dependency order (the order an import must follow)."""

from __future__ import annotations

from dataclasses import dataclass

from pdva.registry import models as m


@dataclass(frozen=True)
class TableSpec:
    name: str
    model: type
    # Lookup from a row to its patient's id (None: site-level tables, exported by site).
    patient_path: str | None
    # Lookup from a row to its site id, for scoping site-level tables.
    site_path: str
    research: bool
    description: str
    # Parents that must be alive for the row to be exported (soft-deleted parents hide their children).
    alive_parents: tuple[str, ...] = ()
    one_per_patient: bool = False


TABLES: tuple[TableSpec, ...] = (
    TableSpec("sites", m.Site, None, "pk", False, "Participating sites (NHS trusts)"),
    TableSpec("site_governance", m.SiteGovernance, None, "site", False, "Site governance arrangements"),
    TableSpec("operators", m.Operator, None, "site", False, "Operators performing pDVA"),
    TableSpec("patients", m.Patient, "id", "site", True, "One row per patient", one_per_patient=True),
    TableSpec(
        "patient_identities",
        m.PatientIdentity,
        "patient_id",
        "patient__site",
        False,
        "Direct identifiers (full export, identifier-permitted roles only)",
        one_per_patient=True,
    ),
    TableSpec(
        "procedures", m.Procedure, "patient_id", "patient__site", True, "Index pDVA procedures, one per limb"
    ),
    TableSpec(
        "baseline",
        m.Baseline,
        "procedure__patient_id",
        "procedure__patient__site",
        True,
        "Selection and baseline status, one per procedure",
        alive_parents=("procedure",),
    ),
    TableSpec(
        "consent",
        m.ConsentGovernance,
        "procedure__patient_id",
        "procedure__patient__site",
        False,
        "Consent and governance checks, one per procedure",
        alive_parents=("procedure",),
    ),
    TableSpec("medications", m.Medication, "patient_id", "patient__site", True, "Drug episodes"),
    TableSpec(
        "followups",
        m.FollowUpVisit,
        "procedure__patient_id",
        "procedure__patient__site",
        True,
        "Follow-up assessments of the index limb",
        alive_parents=("procedure",),
    ),
    TableSpec(
        "adverse_events",
        m.AdverseEvent,
        "procedure__patient_id",
        "procedure__patient__site",
        True,
        "Adverse events",
        alive_parents=("procedure",),
    ),
    TableSpec(
        "reinterventions",
        m.Reintervention,
        "procedure__patient_id",
        "procedure__patient__site",
        True,
        "Reinterventions on the index limb",
        alive_parents=("procedure",),
    ),
    TableSpec("amputations", m.Amputation, "patient_id", "patient__site", True, "Amputations of either limb"),
    TableSpec("deaths", m.Death, "patient_id", "patient__site", True, "Deaths", one_per_patient=True),
    TableSpec("proms", m.PromAdministration, "patient_id", "patient__site", True, "PROM administrations"),
)

BY_NAME = {t.name: t for t in TABLES}
BY_MODEL = {t.model: t for t in TABLES}
RESEARCH_TABLES = tuple(t for t in TABLES if t.research)
