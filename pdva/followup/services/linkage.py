"""Linkage import: propose deaths, amputations and reinterventions from national data, for a data manager
to accept (creating the registry record, audited) or reject.

Matching is on the NHS number's keyed blind index; patients with the national data opt-out are never linked
(reported as excluded, by line number only). All-or-nothing: any malformed row rejects the whole file with a
report of every problem and its line number. The stored report holds line numbers and registry IDs, never
NHS numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pdva.audit.models import record
from pdva.followup.lib import linkage as lib
from pdva.followup.models import LinkageBatch, LinkageProposal
from pdva.registry.models import Amputation, Death, PatientIdentity, Procedure, Reintervention
from pdva.registry.models.patients import nhs_number_index, normalise_nhs_number


class LinkageInvalid(ValueError):
    def __init__(self, errors: list[lib.RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the linkage file")
        self.errors = errors


def _check_nhs(raw: str) -> str | None:
    try:
        normalise_nhs_number(raw)
    except ValidationError as exc:
        return "; ".join(exc.messages)
    return None


def _identities(rows: list[lib.Row], site_ids: list[int] | None) -> dict[str, PatientIdentity]:
    indexes = {nhs_number_index(normalise_nhs_number(r.nhs_raw)) for r in rows}
    qs = (
        PatientIdentity.objects.alive()
        .filter(nhs_number_index__in=indexes, patient__deleted_at__isnull=True)
        .select_related("patient")
    )
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=site_ids)
    return {i.nhs_number_index: i for i in qs}


def import_linkage(
    kind: str,
    text: str,
    *,
    filename: str,
    site_ids: Iterable[int] | None = None,
    user: Any = None,
    today: dt.date | None = None,
) -> LinkageBatch:
    """Validate the whole file, then create the batch and its proposals in one transaction."""
    today = today or timezone.localdate()
    site_ids = list(site_ids) if site_ids is not None else None
    rows, errors = lib.parse(kind, text, today=today, check_nhs=_check_nhs)
    if kind == "deaths":
        first_date: dict[str, lib.Row] = {}
        for row in rows:
            key = normalise_nhs_number(row.nhs_raw)
            seen = first_date.setdefault(key, row)
            if seen.event_date != row.event_date:
                errors.append(
                    lib.RowError(
                        row.line, f"conflicting date of death: line {seen.line} gives {seen.event_date}"
                    )
                )
    if errors:
        raise LinkageInvalid(sorted(errors, key=lambda e: e.line))

    report: dict[str, list] = {
        k: []
        for k in (
            "proposed",
            "unmatched",
            "excluded",
            "duplicates",
            "already_recorded",
            "not_relevant",
            "noted",
            "before_index",
        )
    }
    identities = _identities(rows, site_ids)
    signatures: dict[tuple, int] = {}
    proposals: list[LinkageProposal] = []
    for row in rows:
        sig = (normalise_nhs_number(row.nhs_raw),) + row.signature()[1:]
        if sig in signatures:
            report["duplicates"].append({"line": row.line, "same_as": signatures[sig]})
            continue
        signatures[sig] = row.line
        identity = identities.get(nhs_number_index(normalise_nhs_number(row.nhs_raw)))
        if identity is None:
            report["unmatched"].append({"line": row.line})
            continue
        patient = identity.patient
        if patient.national_data_opt_out:
            report["excluded"].append({"line": row.line, "why": "national data opt-out"})
            continue
        for proposal in _proposals_for(kind, row, patient, report):
            proposals.append(proposal)
    with transaction.atomic():
        batch = LinkageBatch(
            kind=kind, filename=filename[:200], uploaded_by=user, site_scope=site_ids, rows=len(rows)
        )
        batch.report = report
        batch.save(reason=f"{kind} linkage import")
        for p in proposals:
            p.batch = batch
            report["proposed"].append(
                {
                    "line": p.line,
                    "registry_id": p.patient.registry_id,
                    "kind": p.kind,
                    "date": p.event_date.isoformat(),
                }
            )
        LinkageProposal.objects.audited_bulk_create(proposals, reason=f"proposed by {kind} linkage")
        batch.report = report
        batch.save(reason="linkage report")
    return batch


def _pending(patient_id: int, kind: str, day: dt.date, code: str = "") -> bool:
    qs = LinkageProposal.objects.alive().filter(
        patient_id=patient_id,
        kind=kind,
        event_date=day,
        status__in=[LinkageProposal.PROPOSED, LinkageProposal.ACCEPTED],
    )
    return any(p.data.get("code", "") == code for p in qs)


def _proposals_for(kind: str, row: lib.Row, patient: Any, report: dict[str, list]) -> list[LinkageProposal]:
    rid = patient.registry_id
    if kind == "deaths":
        if Death.objects.alive().filter(patient=patient).exists() or _pending(
            patient.pk, "death", row.event_date
        ):
            report["already_recorded"].append({"line": row.line, "registry_id": rid, "kind": "death"})
            return []
        return [
            LinkageProposal(
                line=row.line,
                patient=patient,
                kind="death",
                event_date=row.event_date,
                data={"cause_icd10": row.values["cause"]},
            )
        ]
    events = lib.episode_events(row.values["codes"])
    if not events:
        report["not_relevant"].append({"line": row.line, "codes": row.values["codes"]})
        return []
    side = row.values["laterality"]
    out = []
    for event in events:
        if event.kind == "noted":
            report["noted"].append(
                {"line": row.line, "registry_id": rid, "code": event.code, "note": event.detail}
            )
            continue
        limbs = ["left", "right"] if side == "bilateral" else [side]
        for limb in limbs:
            procedure = _index_procedure(patient, limb, row.event_date)
            if event.kind == "amputation":
                exists = Amputation.objects.alive().filter(patient=patient, date=row.event_date)
                if limb:
                    exists = exists.filter(limb=limb)
                if exists.exists() or _pending(patient.pk, "amputation", row.event_date, event.code + limb):
                    report["already_recorded"].append(
                        {"line": row.line, "registry_id": rid, "kind": "amputation"}
                    )
                    continue
                out.append(
                    LinkageProposal(
                        line=row.line,
                        patient=patient,
                        procedure=procedure,
                        kind="amputation",
                        event_date=row.event_date,
                        data={
                            "code": event.code + limb,
                            "opcs": event.code,
                            "level": event.detail,
                            "limb": limb,
                        },
                    )
                )
                continue
            if procedure is None:
                report["before_index"].append({"line": row.line, "registry_id": rid, "code": event.code})
                continue
            exists = Reintervention.objects.alive().filter(procedure=procedure, date=row.event_date).exists()
            if exists or _pending(patient.pk, "reintervention", row.event_date, event.code + limb):
                report["already_recorded"].append(
                    {"line": row.line, "registry_id": rid, "kind": "reintervention"}
                )
                continue
            out.append(
                LinkageProposal(
                    line=row.line,
                    patient=patient,
                    procedure=procedure,
                    kind="reintervention",
                    event_date=row.event_date,
                    data={
                        "code": event.code + limb,
                        "opcs": event.code,
                        "modalities": event.detail["modalities"],
                        "codes": event.detail["codes"],
                        "limb": limb,
                    },
                )
            )
    return out


def _index_procedure(patient: Any, limb: str, day: dt.date) -> Procedure | None:
    """The latest index procedure on or before ``day`` (on that limb, if the limb is known)."""
    qs = Procedure.objects.alive().filter(patient=patient, procedure_date__lte=day)
    if limb:
        qs = qs.filter(index_limb=limb)
    return qs.order_by("-procedure_date", "-pk").first()


class DecisionError(ValueError):
    pass


def accept(proposal: LinkageProposal, *, user: Any, overrides: dict[str, Any] | None = None) -> Any:
    """Create the registry record the proposal describes (inside the caller's audit context)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    if proposal.status != LinkageProposal.PROPOSED:
        raise DecisionError(f"this proposal was already {proposal.status}")
    data = {**proposal.data, **overrides}
    with transaction.atomic():
        if proposal.kind == "death":
            obj: Any = Death(
                patient=proposal.patient,
                date_of_death=proposal.event_date,
                source="ons_linkage",
                underlying_cause_icd10=data.get("cause_icd10", ""),
            )
        elif proposal.kind == "amputation":
            if not data.get("limb") or not data.get("level"):
                raise DecisionError("choose the limb and the amputation level before accepting")
            obj = Amputation(
                patient=proposal.patient,
                limb=data["limb"],
                level=data["level"],
                date=proposal.event_date,
            )
        else:
            if proposal.procedure is None:
                raise DecisionError("no index procedure to attach this reintervention to")
            modalities = data.get("modalities") or []
            if isinstance(modalities, str):
                modalities = [modalities]
            obj = Reintervention(
                procedure=proposal.procedure,
                date=proposal.event_date,
                modalities=modalities,
                opcs4_code=data.get("opcs", "")[:10],
                notes="From hospital episode linkage",
            )
        try:
            obj.save(reason=f"accepted from linkage batch {proposal.batch_id}, line {proposal.line}")
        except ValidationError as exc:
            raise DecisionError(
                "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        proposal.status = LinkageProposal.ACCEPTED
        proposal.decided_by = user
        proposal.decided_at = timezone.now()
        proposal.created_object = f"{obj._meta.label_lower}:{obj.pk}"
        proposal.data = data
        proposal.save(reason="linkage proposal accepted")
        record("followup.linkage.accepted", proposal, after={"created": proposal.created_object})
    return obj


def reject(proposal: LinkageProposal, *, user: Any, note: str) -> None:
    if proposal.status != LinkageProposal.PROPOSED:
        raise DecisionError(f"this proposal was already {proposal.status}")
    if not note.strip():
        raise DecisionError("say why the proposal is rejected")
    proposal.status = LinkageProposal.REJECTED
    proposal.decided_by = user
    proposal.decided_at = timezone.now()
    proposal.decision_note = note.strip()
    proposal.save(reason=f"linkage proposal rejected: {note.strip()}")
