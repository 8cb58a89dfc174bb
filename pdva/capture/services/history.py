"""A record's audit history, readable: who, when, what changed (before → after) and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from pdva.audit.models import AuditEntry
from pdva.capture.services.records import describe_snapshot_diff, field_for_attname


@dataclass
class HistoryRow:
    entry: AuditEntry
    verb: str
    changes: list[tuple[str, str, str]]


VERBS = {"created": "Created", "updated": "Changed", "deleted": "Deleted"}


def history(rec: models.Model, site_ids: set[int] | None) -> list[HistoryRow]:
    """Audit entries of ``rec`` (model writes and named actions), limited to the caller's sites."""
    entries = AuditEntry.objects.filter(object_type=rec._meta.label_lower, object_id=str(rec.pk))
    if site_ids is not None:
        entries = entries.filter(site_id__in=site_ids)
    entries = list(entries.order_by("seq"))
    model = type(rec)
    names = _related_names(model, entries)
    rows = []
    for e in entries:
        verb = e.action.rsplit(".", 1)[-1]
        label = VERBS.get(verb, e.action.replace("_", " "))
        before = e.before if isinstance(e.before, dict) else {}
        after = e.after if isinstance(e.after, dict) else {}
        if verb == "created":
            after = {k: v for k, v in after.items() if v not in (None, "", [], False)}
            changes = [(lbl, "", a) for lbl, _, a in describe_snapshot_diff(model, {}, after)]
        elif e.action.startswith(f"{model._meta.app_label}.{model._meta.model_name}."):
            changes = describe_snapshot_diff(model, before, after)
        else:
            changes = [
                (k.replace("_", " ").capitalize(), str(before.get(k, "")), str(after.get(k, "")))
                for k in sorted(set(before) | set(after))
            ]
        rows.append(HistoryRow(e, label, [_named(model, ch, names) for ch in changes]))
    return rows


def _related_names(model: type[models.Model], entries: list[AuditEntry]) -> dict[str, dict[str, str]]:
    """Display names for the foreign keys that appear in the entries (one query per related model)."""
    wanted: dict[str, set[Any]] = {}
    for e in entries:
        for snap in (e.before, e.after):
            if not isinstance(snap, dict):
                continue
            for k, v in snap.items():
                f = field_for_attname(model, k)
                if f is not None and isinstance(f, models.ForeignKey) and v is not None:
                    wanted.setdefault(k, set()).add(v)
    names: dict[str, dict[str, str]] = {}
    user_model = get_user_model()
    for attname, ids in wanted.items():
        f = field_for_attname(model, attname)
        related = f.related_model
        rows = related._base_manager.filter(pk__in=ids)
        if related is user_model:
            names[attname] = {f"#{u.pk}": u.get_username() for u in rows}
        else:
            names[attname] = {f"#{r.pk}": str(r) for r in rows}
    return names


def _named(
    model: type[models.Model], change: tuple[str, str, str], names: dict[str, dict[str, str]]
) -> tuple[str, str, str]:
    label, before, after = change
    for attname, mapping in names.items():
        f = field_for_attname(model, attname)
        if f is not None and str(f.verbose_name).lower() == label.lower():
            return (label, mapping.get(before, before), mapping.get(after, after))
    return change
