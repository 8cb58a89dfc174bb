"""The record types a site team captures, each with its form, parent and place in the case."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from pdva.capture.forms import records as f
from pdva.capture.forms.base import CaptureForm
from pdva.capture.forms.patients import PatientForm
from pdva.registry import models as m


@dataclass(frozen=True)
class Kind:
    slug: str
    model: type[models.Model]
    form: type[CaptureForm]
    title: str
    parent: str  # "patient", "procedure" or "" (top level)
    single: bool = False  # at most one per parent (baseline, consent, death)
    accessor: str = ""  # related name on the parent for single records
    date_field: str = ""
    # Created under a locked case after it was signed: follow-up goes on for life.
    follow_up: bool = True
    # Who may remove a record entered in error: "" nobody (corrected by editing), "edit" anyone who may
    # edit clinical data at the site, "data_manager" the site's data managers only (a whole case or patient).
    removable: str = ""
    # May also hang directly off the patient (a medication not tied to one procedure, e.g. anticoagulation
    # for AF): shown on every case of that patient.
    patient_level: bool = False

    def parent_of(self, record: models.Model) -> models.Model | None:
        if self.parent == "procedure":
            if self.patient_level and record.procedure_id is None:
                return record.patient
            return record.procedure
        if self.parent == "patient":
            return record.patient
        return None

    def attach(self, record: models.Model, parent: models.Model) -> None:
        if isinstance(parent, m.Procedure):
            record.procedure = parent
            if hasattr(record, "patient_id") and not isinstance(record, m.Procedure):
                record.patient = parent.patient
        elif isinstance(parent, m.Patient):
            record.patient = parent


KINDS: dict[str, Kind] = {
    k.slug: k
    for k in [
        Kind(
            "patient",
            m.Patient,
            PatientForm,
            "Patient details",
            "",
            follow_up=False,
            removable="data_manager",
        ),
        Kind(
            "procedure",
            m.Procedure,
            f.ProcedureForm,
            "Index procedure",
            "patient",
            date_field="procedure_date",
            follow_up=False,
            removable="data_manager",
        ),
        Kind(
            "baseline",
            m.Baseline,
            f.BaselineForm,
            "Selection and baseline",
            "procedure",
            True,
            "baseline",
            "assessment_date",
            follow_up=False,
        ),
        Kind(
            "consent",
            m.ConsentGovernance,
            f.ConsentForm,
            "Consent and governance checklist",
            "procedure",
            True,
            "consent",
            "consent_date",
            follow_up=False,
        ),
        Kind(
            "medication",
            m.Medication,
            f.MedicationForm,
            "Medication episode",
            "procedure",
            date_field="start_date",
            removable="edit",
            patient_level=True,
        ),
        Kind(
            "visit",
            m.FollowUpVisit,
            f.VisitForm,
            "Follow-up visit",
            "procedure",
            date_field="visit_date",
            removable="edit",
        ),
        Kind(
            "adverse-event",
            m.AdverseEvent,
            f.AdverseEventForm,
            "Adverse event",
            "procedure",
            date_field="onset_date",
            removable="edit",
        ),
        Kind(
            "reintervention",
            m.Reintervention,
            f.ReinterventionForm,
            "Reintervention",
            "procedure",
            date_field="date",
            removable="edit",
        ),
        Kind(
            "amputation",
            m.Amputation,
            f.AmputationForm,
            "Amputation",
            "patient",
            date_field="date",
            removable="edit",
        ),
        Kind(
            "death",
            m.Death,
            f.DeathForm,
            "Death",
            "patient",
            True,
            "death",
            "date_of_death",
            removable="edit",
        ),
        Kind(
            "prom",
            m.PromAdministration,
            f.PromForm,
            "PROM administration",
            "procedure",
            date_field="completed_date",
            removable="edit",
        ),
    ]
}
KIND_OF_MODEL = {k.model: k for k in KINDS.values()}


def kind_of(record: models.Model) -> Kind:
    return KIND_OF_MODEL[type(record)]
