"""Export workflows: who may export what, and the audit record of every export."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdva.accounts.access import can, scoped, site_ids_for
from pdva.accounts.roles import Cap
from pdva.audit.models import record
from pdva.exports import lib
from pdva.registry.models import Patient, Site

KINDS = ("research", "redcap", "odm", "fhir", "full")
CAP_FOR = {
    "research": Cap.RESEARCH_EXPORT,
    "redcap": Cap.RESEARCH_EXPORT,
    "odm": Cap.RESEARCH_EXPORT,
    "fhir": Cap.RESEARCH_EXPORT,  # or FULL_EXPORT: see fhir_mode()
    "full": Cap.FULL_EXPORT,
}
# ODM audit records show who changed what and when, record by record (users and sites as pseudonyms):
# for roles that may view record-level clinical data, not for researchers' de-identified extracts.
AUDIT_RECORDS_CAP = Cap.VIEW_CLINICAL
SUFFIX = {"research": ".zip", "redcap": ".zip", "odm": ".xml", "fhir": ".json", "full": ".zip"}


class ExportRefused(PermissionError):
    """The user's role does not allow this export (or they belong to no site)."""


@dataclass
class ExportResult:
    kind: str
    path: Path
    rows: int
    sha256: str
    manifest: dict[str, Any]


def allowed_kinds(user: Any) -> list[str]:
    kinds = []
    for kind in KINDS:
        if kind == "fhir":
            if can(user, Cap.RESEARCH_EXPORT) or can(user, Cap.FULL_EXPORT):
                kinds.append(kind)
        elif can(user, CAP_FOR[kind]):
            kinds.append(kind)
    return kinds


def _site_ids(user: Any, cap: Cap) -> list[int]:
    ids = site_ids_for(user, cap)
    if ids is None:
        return list(Site.objects.values_list("id", flat=True))
    return sorted(ids)


def fhir_mode(user: Any) -> str:
    """Identified FHIR for roles with full export (identifiers where they may see them); else de-identified."""
    if can(user, Cap.FULL_EXPORT):
        return "identified"
    if can(user, Cap.RESEARCH_EXPORT):
        return "deidentified"
    raise ExportRefused("your role does not allow FHIR exports")


def run_export(kind: str, user: Any, out: Path, **options: Any) -> ExportResult:
    """Run one export as ``user`` within their scope and record it in the audit log. Fails closed."""
    from pdva.exports import fhir, full, odm, redcap, research

    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}; choose from {', '.join(KINDS)}")
    if kind == "fhir":
        mode = fhir_mode(user)
        cap = Cap.FULL_EXPORT if mode == "identified" else Cap.RESEARCH_EXPORT
    else:
        cap, mode = CAP_FOR[kind], ""
        if not can(user, cap):
            raise ExportRefused(f"your role does not allow {kind} exports")
    if options.get("audit") and not (kind == "odm" and can(user, AUDIT_RECORDS_CAP)):
        raise ExportRefused("audit records are only in ODM exports, for roles that may view clinical records")
    label = user.get_username()
    if kind == "full":
        site_ids = _site_ids(user, cap)
        identifier_sites = {s for s in site_ids if can(user, Cap.VIEW_IDENTIFIERS, s)}
        manifest = full.export_full(
            site_ids, out, identifier_site_ids=identifier_sites, created_by=label, **options
        )
    elif kind == "fhir":
        patients = scoped(Patient.objects, user, cap)
        identifier_sites = (
            {s for s in _site_ids(user, cap) if can(user, Cap.VIEW_IDENTIFIERS, s)}
            if mode == "identified"
            else set()
        )
        manifest = fhir.export_fhir(
            patients, out, mode=mode, identifier_site_ids=identifier_sites, created_by=label
        )
    else:
        patients = scoped(Patient.objects, user, cap)
        writers = {"research": research, "redcap": redcap, "odm": odm}
        writer = getattr(writers[kind], f"export_{kind}")
        manifest = writer(patients, out, created_by=label, **options)
    digest = lib.sha256_file(str(out))
    rows = int(sum(manifest.get("tables", {}).values()))
    record(
        f"exports.{kind}.created",
        None,
        object_type="exports.export",
        object_id=manifest.get("export_id", "")[:64],
        after={
            "rows": rows,
            "sha256": digest,
            "format": options.get("fmt", ""),
            "mode": mode,
            "file": out.name,
        },
        reason=f"{kind} export",
    )
    return ExportResult(kind, out, rows, digest, manifest)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
