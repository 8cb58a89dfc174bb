"""Saving a capture form: locks, reasons, soft warnings, integrity errors and the version check."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from pdva.audit.models import AuditEntry, ConcurrentEdit, record
from pdva.capture.forms.base import CaptureForm, display_value
from pdva.registry import models as m


class RecordLocked(Exception):
    """The record belongs to a signed and locked case."""

    def __init__(self, procedure: m.Procedure) -> None:
        super().__init__(
            f"This record is part of a case signed off on {procedure.locked_at:%d %b %Y %H:%M} and is locked. "
            "Ask a clinician to unlock the case (with a reason) before changing it."
        )
        self.procedure = procedure


def governing_procedures(rec: models.Model, procedures: list[m.Procedure] | None = None) -> list[m.Procedure]:
    """The index procedures whose sign-off covers this record (``procedures``: the patient's live
    procedures, when the caller has them loaded already)."""
    if isinstance(rec, m.Procedure):
        return [rec]
    if not hasattr(rec, "patient_id") and not hasattr(rec, "procedure_id"):
        return []  # patients, sites, operators: not part of a signed case
    procedure_id = getattr(rec, "procedure_id", None)
    if procedure_id:
        return [rec.procedure]
    if procedures is None:
        procedures = list(m.Procedure.objects.alive().filter(patient=rec.patient_id))
    if isinstance(rec, m.Amputation):
        return [p for p in procedures if p.index_limb == rec.limb]
    return procedures


def locking_procedure(
    rec: models.Model,
    *,
    creating: bool = False,
    follow_up: bool = True,
    procedures: list[m.Procedure] | None = None,
) -> m.Procedure | None:
    """The locked procedure that stops this write, if any.

    A locked case freezes the procedure and every record under it that existed when it was signed.
    Follow-up is lifelong, so new follow-up records (visits, events, reinterventions, PROMs …) can still
    be added under a signed case; baseline and consent cannot be added to it.
    """
    for procedure in governing_procedures(rec, procedures):
        if not procedure.locked_at:
            continue
        if rec is procedure:
            return procedure
        if creating:
            if not follow_up:
                return procedure
            continue
        if rec.created_at is None or rec.created_at <= procedure.locked_at:
            return procedure
    return None


@dataclass
class SaveOutcome:
    saved: bool
    created: bool = False
    warnings_confirmed: list[tuple[str, str]] = field(default_factory=list)


def their_changes(obj: models.Model, since_version: int) -> list[dict[str, Any]]:
    """What others changed after ``since_version`` was loaded: one item per saved edit, from the audit log."""
    # Only the record's own saves: named actions about it (a confirmed warning, a query answered) share
    # its object id but are not versions of it.
    own = f"{obj._meta.app_label}.{obj._meta.model_name}."
    entries = [
        e
        for e in AuditEntry.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by(
            "seq"
        )
        if e.action.startswith(own) and not e.action.endswith(".created")
    ]
    out = []
    for entry in entries[max(0, since_version - 1) :]:
        out.append(
            {
                "who": entry.actor_label,
                "when": entry.timestamp,
                "reason": entry.reason,
                "changes": describe_snapshot_diff(type(obj), entry.before or {}, entry.after or {}),
            }
        )
    return out


def field_for_attname(model: type[models.Model], attname: str) -> models.Field | None:
    for f in model._meta.concrete_fields:
        if f.attname == attname:
            return f
    return None


def describe_snapshot_diff(
    model: type[models.Model], before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """(label, before, after) for audit snapshots, using verbose names and choice labels."""
    out = []
    multi = getattr(model, "multi_choice_fields", {})
    for name in sorted(set(before) | set(after)):
        mf = field_for_attname(model, name)
        label = str(mf.verbose_name) if mf is not None else name
        if mf is not None and mf.name in multi:
            mf._capture_choices = multi[mf.name]
        b, a = before.get(name), after.get(name)
        if mf is not None and isinstance(mf, models.ForeignKey):
            out.append(
                (label[0].upper() + label[1:], "—" if b is None else f"#{b}", "—" if a is None else f"#{a}")
            )
            continue
        out.append((label[0].upper() + label[1:], _show(mf, b), _show(mf, a)))
    return out


def _show(mf: models.Field | None, value: Any) -> str:
    if isinstance(value, str) and mf is not None:
        if isinstance(mf, models.DateTimeField):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        elif isinstance(mf, models.DateField):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                pass
    return display_value(mf, value)


def check_form_rules(form: CaptureForm) -> bool:
    """Reason for change and soft warnings. Adds errors to the form; True when the save may go ahead."""
    ok = True
    if form.is_edit:
        form.changes = form.describe_changes()
        if form.changes and not (form.cleaned_data.get("reason") or "").strip():
            form.add_error("reason", "Say why you are changing this record (it is kept in the audit trail)")
            ok = False
    form.warnings = form.soft_warnings(form.cleaned_data)
    if form.warnings:
        confirmed = form.cleaned_data.get("confirm_warnings")
        why = (form.cleaned_data.get("warning_reason") or "").strip()
        if not confirmed or not why:
            form.add_error(
                "confirm_warnings",
                "Some values are unusual (marked below). Check them; if they are right, tick this box and say how you checked",
            )
            ok = False
    return ok


def save_form(
    form: CaptureForm, *, creating: bool, follow_up: bool = True, replaces: models.Model | None = None
) -> SaveOutcome:
    """Save a valid capture form. Problems are added to the form as errors; nothing is partly saved.

    ``replaces``: a removed one-per-parent record (e.g. a death removed as entered in error) whose row the
    new entry takes over, since the parent can hold only one row.
    """
    instance = form.instance
    locked = locking_procedure(instance, creating=creating, follow_up=follow_up)
    if locked is not None:
        form.add_error(None, str(RecordLocked(locked)))
        return SaveOutcome(False)
    try:
        # Hard integrity rules first: an impossible value is an error, not a warning to confirm.
        instance.derive()
        instance.clean_for_save()
    except ValidationError as exc:
        add_model_errors(form, exc)
        return SaveOutcome(False)
    if not check_form_rules(form):
        return SaveOutcome(False)
    if form.is_edit and form.cleaned_data.get("version"):
        instance.version = form.cleaned_data["version"]
    reason = (form.cleaned_data.get("reason") or "").strip()
    if replaces is not None:
        take_over_row(instance, replaces)
        reason = "entered again after the earlier entry was removed"
    try:
        with transaction.atomic():
            scores = derive_prom_scores(instance)
            # A score derived for the first time (data entered before scoring existed) is not the user's edit.
            instance.save(reason=reason or ("PROM scores derived" if scores is not None else ""))
            if scores is not None:
                save_prom_scores(instance, scores, reason=reason or "PROM scores derived")
            if hasattr(form, "save_m2m"):
                form.save_m2m()
            if form.warnings:
                record(
                    "capture.warning.confirmed",
                    instance,
                    after={"warnings": [f"{name}: {msg}" for name, msg in form.warnings]},
                    reason=form.cleaned_data["warning_reason"],
                )
    except ValidationError as exc:
        if instance._state.adding or replaces is not None:
            instance.pk = None
            instance._state.adding = True
        add_model_errors(form, exc)
        return SaveOutcome(False)
    except ConcurrentEdit:
        since = form.cleaned_data.get("version") or 1
        form.conflict = {"edits": their_changes(instance, since)}
        form.add_error(
            None,
            "Someone else saved this record after you opened it, so your changes were not saved. "
            "Their changes are shown below; reload the record and enter your changes again.",
        )
        return SaveOutcome(False)
    return SaveOutcome(True, created=creating, warnings_confirmed=form.warnings)


def take_over_row(instance: models.Model, removed: models.Model) -> None:
    """Make ``instance`` an update of the removed row: same id, alive again, with the new values."""
    instance.pk = removed.pk
    instance.uuid = removed.uuid
    instance.version = removed.version
    instance.created_at = None  # entered now: a case locked before today does not lock it
    instance.deleted_at = None
    instance.deleted_reason = ""
    instance._state.adding = False


def derive_prom_scores(instance: models.Model) -> list[Any] | None:
    """A PROM administration's scores (pdva.proms), with its primary score set on it before it is saved."""
    if not isinstance(instance, m.PromAdministration):
        return None
    from pdva.proms.services.scoring import apply_primary, compute

    scores = compute(instance)
    apply_primary(instance, scores)
    return scores


def save_prom_scores(adm: m.PromAdministration, scores: list[Any], *, reason: str) -> None:
    """One PromScore per value set or rule; scores of a method no longer produced (the instrument was
    changed) are removed."""
    from pdva.proms.models import PromScore
    from pdva.proms.services.scoring import save_scores

    save_scores(adm, scores, reason=reason)
    current = {(s.measure, s.method) for s in scores}
    for row in PromScore.objects.alive().filter(administration=adm):
        if (row.measure, row.method) not in current:
            row.soft_delete(reason=f"no longer derived: {reason}")


def add_model_errors(form: Any, exc: ValidationError) -> None:
    """Map a model's integrity errors to the form fields they belong to (others go to the top)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            target = name if name in form.fields else None
            for message in errors:
                text = message[0].upper() + message[1:] if message else message
                if target is None and name not in ("__all__",):
                    text = f"{name.replace('_', ' ').capitalize()}: {message}"
                form.add_error(target, text)
    else:
        for message in exc.messages:
            form.add_error(None, message)
