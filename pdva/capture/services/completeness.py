"""Mandatory-item completeness of a case, computed from already-loaded records (no queries of its own
when the caller has prefetched the case's records)."""

from __future__ import annotations

from typing import Any

from pdva.capture.kinds import KINDS, Kind
from pdva.registry import models as m


def alive(records: Any) -> list[Any]:
    return [r for r in records if r.deleted_at is None]


def case_records(procedure: m.Procedure) -> list[tuple[Kind, Any]]:
    """Every record of a case that counts for completeness: the procedure, baseline, consent and follow-up."""
    out: list[tuple[Kind, Any]] = [(KINDS["procedure"], procedure)]
    for slug in ("baseline", "consent"):
        rec = getattr(procedure, KINDS[slug].accessor, None)
        if rec is not None and rec.deleted_at is None:
            out.append((KINDS[slug], rec))
    for slug, related in (
        ("visit", "visits"),
        ("adverse-event", "adverse_events"),
        ("reintervention", "reinterventions"),
        ("medication", "medications"),
        ("prom", "proms"),
    ):
        out.extend((KINDS[slug], r) for r in alive(getattr(procedure, related).all()))
    return out


def record_missing(kind: Kind, rec: Any) -> list[tuple[str, str]]:
    return kind.form.missing_in(kind.form.values_of(rec))


def case_missing(procedure: m.Procedure) -> list[tuple[str, list[tuple[str, str]]]]:
    """(record title, [(field, label)]) for each record of the case with mandatory items missing."""
    out = []
    for kind, rec in case_records(procedure):
        missing = record_missing(kind, rec)
        if missing:
            title = kind.title
            date = getattr(rec, kind.date_field, None) if kind.date_field else None
            out.append((f"{title} {date:%d %b %Y}" if date else title, missing))
    return out


def completeness(procedure: m.Procedure) -> tuple[int, int]:
    """(mandatory items present, mandatory items expected) across the case, counting absent baseline and
    consent records as all their items missing."""
    present = expected = 0
    for kind, rec in case_records(procedure):
        values = kind.form.values_of(rec)
        names = set(kind.form.mandatory) | set(kind.form.conditional_mandatory(values))
        missing = len(kind.form.missing_in(values))
        expected += len(names)
        present += len(names) - missing
    for slug in ("baseline", "consent"):
        rec = getattr(procedure, KINDS[slug].accessor, None)
        if rec is None or rec.deleted_at is not None:
            expected += len(KINDS[slug].form.mandatory)
    return present, expected
