"""Removing a record entered in error.

Nothing is erased: each record is soft-deleted (AuditedModel.soft_delete) with the user's reason, so it
leaves the case, timeline, worklists and counts but stays in the audit history. Removing a whole case
or patient removes everything under it in one transaction. Locked (signed) records are refused, and so
is a removal that would leave another record pointing at a removed one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

from pdva.audit.models import record
from pdva.capture.forms.base import display_value
from pdva.capture.kinds import KIND_OF_MODEL, Kind
from pdva.capture.models import DataQuery, QueryStatus
from pdva.capture.services.records import RecordLocked, locking_procedure
from pdva.registry import models as m


@dataclass
class RemovalItem:
    obj: Any
    title: str
    detail: str = ""


@dataclass
class RemovalPlan:
    kind: Kind
    record: Any
    items: list[RemovalItem] = field(default_factory=list)  # shown to the user; the record first
    derived: list[Any] = field(default_factory=list)  # PROM scores, open queries, open PROM links
    blockers: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.blockers


def _title(obj: Any) -> str:
    kind = KIND_OF_MODEL.get(type(obj))
    if kind is not None:
        return kind.title
    if isinstance(obj, m.PatientIdentity):
        return "Patient identifiers"
    return str(obj._meta.verbose_name).capitalize()


def _item(obj: Any) -> RemovalItem:
    kind = KIND_OF_MODEL.get(type(obj))
    date = getattr(obj, kind.date_field, None) if kind is not None and kind.date_field else None
    if isinstance(obj, m.PatientIdentity):
        detail = "NHS number, name, date of birth and postcode"
    elif isinstance(obj, m.Patient):
        detail = obj.registry_id
    elif isinstance(obj, m.Procedure):
        detail = f"{obj.get_index_limb_display()} limb, {obj.procedure_date:%d %b %Y}"
    else:
        detail = f"{obj} " if date is None else f"{date:%d %b %Y}: {_short(obj)}"
    return RemovalItem(obj, _title(obj), detail.strip())


def _short(obj: Any) -> str:
    if isinstance(obj, m.FollowUpVisit):
        return obj.get_timepoint_display()
    if isinstance(obj, m.AdverseEvent):
        return obj.get_category_display()
    if isinstance(obj, m.Reintervention):
        return obj.get_indication_display()
    if isinstance(obj, m.Amputation):
        return f"{obj.get_level_display()} ({obj.get_limb_display().lower()} limb)"
    if isinstance(obj, m.Medication):
        return obj.get_agent_display()
    if isinstance(obj, m.PromAdministration):
        return obj.get_instrument_display()
    if isinstance(obj, m.Death):
        return obj.get_cause_category_display()
    return ""


def _alive(qs: Any) -> list[Any]:
    return list(qs.filter(deleted_at__isnull=True))


def _case_records(procedure: m.Procedure) -> list[Any]:
    out: list[Any] = [procedure]
    for accessor in ("baseline", "consent"):
        rec = getattr(procedure, accessor, None)
        if rec is not None and rec.deleted_at is None:
            out.append(rec)
    out += _alive(procedure.visits.all())
    out += _alive(procedure.adverse_events.all())
    out += _alive(procedure.reinterventions.all())
    out += _alive(procedure.medications.all())
    out += _alive(procedure.proms.all())
    return out


def _records(rec: Any) -> list[Any]:
    """The record and everything that goes with it."""
    if isinstance(rec, m.Patient):
        out: list[Any] = [rec]
        identity = m.PatientIdentity.objects.filter(patient=rec, deleted_at__isnull=True).first()
        if identity is not None:
            out.append(identity)
        for procedure in _alive(rec.procedures.all()):
            out += _case_records(procedure)
        out += _alive(rec.amputations.all())
        death = getattr(rec, "death", None)
        if death is not None and death.deleted_at is None:
            out.append(death)
        out += _alive(rec.medications.filter(procedure__isnull=True))
        out += _alive(rec.proms.filter(procedure__isnull=True))
        return out
    if isinstance(rec, m.Procedure):
        return _case_records(rec)
    return [rec]


# Records that point at another record (model, foreign key): removing the target alone would leave a
# dangling link, so the user is asked to change or remove the pointing record first.
REFERENCES: list[tuple[type[models.Model], str]] = [
    (m.Amputation, "reintervention"),
    (m.PromAdministration, "visit"),
]


def _dangling(records: list[Any]) -> list[str]:
    removing = {(type(r), r.pk) for r in records}
    problems = []
    for model, fk in REFERENCES:
        target = model._meta.get_field(fk).related_model
        ids = [r.pk for r in records if type(r) is target]
        if not ids:
            continue
        for row in model.objects.alive().filter(**{f"{fk}__in": ids}):
            if (model, row.pk) not in removing:
                item = _item(row)
                problems.append(
                    f"{item.title} ({item.detail}) is linked to this record: change or remove it first."
                )
    return problems


def _derived(records: list[Any]) -> list[Any]:
    """Rows that only make sense with the removed records: PROM scores, queries still open on them, and
    patient questionnaire links not yet used."""
    from pdva.proms.models import PromInvitation, PromScore

    out: list[Any] = []
    prom_ids = [r.pk for r in records if isinstance(r, m.PromAdministration)]
    if prom_ids:
        out += list(PromScore.objects.alive().filter(administration_id__in=prom_ids))
    uuids = [r.uuid for r in records if hasattr(r, "uuid")]
    out += list(DataQuery.objects.alive().filter(record_uuid__in=uuids).exclude(status=QueryStatus.CLOSED))
    patients = [r.pk for r in records if isinstance(r, m.Patient)]
    procedures = [r.pk for r in records if isinstance(r, m.Procedure)]
    if patients or procedures:
        links = PromInvitation.objects.alive().filter(used_at__isnull=True, revoked_at__isnull=True)
        out += list(links.filter(models.Q(patient_id__in=patients) | models.Q(procedure_id__in=procedures)))
    return out


def plan_removal(kind: Kind, rec: Any) -> RemovalPlan:
    """What removing ``rec`` would remove, and why it cannot be removed (if so)."""
    records = _records(rec)
    plan = RemovalPlan(kind, rec, [_item(r) for r in records], _derived(records))
    for r in records:
        locked = locking_procedure(r)
        if locked is not None:
            plan.blockers.append(str(RecordLocked(locked)))
            break
    plan.blockers += _dangling(records)
    return plan


def record_summary(kind: Kind, rec: Any) -> list[tuple[str, str]]:
    """(label, value) of the record's filled-in fields, as the confirmation shows them."""
    form = kind.form(instance=rec, parent=kind.parent_of(rec))
    values = kind.form.values_of(rec)
    out = []
    for name, bound in ((n, form[n]) for n in form.fields if n not in form.control_names):
        try:
            mf = rec._meta.get_field(name)
        except Exception:
            mf = None
        value = values.get(name) if mf is not None else bound.initial
        if mf is not None and name in getattr(type(rec), "multi_choice_fields", {}):
            mf._capture_choices = type(rec).multi_choice_fields[name]
        if isinstance(mf, models.ForeignKey):
            related = getattr(rec, name)
            shown = "—" if related is None else str(related)
        else:
            shown = display_value(mf, value)
        if shown != "—":
            out.append((str(bound.label), shown))
    return out


class RemovalRefused(Exception):
    pass


def remove(plan: RemovalPlan, *, reason: str, version: int | None = None) -> None:
    """Soft-delete every record of the plan with ``reason``, all or nothing.

    ``version`` is the record's version the user confirmed: if it changed since, ConcurrentEdit is raised
    and nothing is removed.
    """
    from pdva.proms.models import PromInvitation
    from pdva.proms.services.links import revoke

    reason = reason.strip()
    if not reason:
        raise RemovalRefused("Say why this record is being removed (it is kept in the audit trail).")
    if plan.blockers:
        raise RemovalRefused(" ".join(plan.blockers))
    main = plan.record
    if version is not None:
        main.version = version
    with transaction.atomic():
        main.soft_delete(reason=reason)
        for item in plan.items[1:]:
            item.obj.soft_delete(reason=reason)
        for obj in plan.derived:
            if isinstance(obj, PromInvitation):
                revoke(obj, reason=f"patient or case removed: {reason}")
            else:
                obj.soft_delete(reason=f"record removed: {reason}")
        record(
            "capture.record.removed",
            main,
            after={
                "kind": plan.kind.slug,
                "removed": [f"{i.title}: {i.detail}" for i in plan.items],
                "derived": len(plan.derived),
            },
            reason=reason,
        )
