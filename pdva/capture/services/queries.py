"""Data queries: opened by a data manager or auditor, answered by the site, closed by the opener."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from pdva.audit.models import record
from pdva.capture.kinds import Kind
from pdva.capture.models import DataQuery, QueryStatus
from pdva.registry import models as m


def _case_of(rec: Any) -> tuple[m.Patient, m.Procedure | None]:
    if isinstance(rec, m.Patient):
        return rec, None
    if isinstance(rec, m.Procedure):
        return rec.patient, rec
    procedure = getattr(rec, "procedure", None)
    patient = procedure.patient if procedure is not None else rec.patient
    return patient, procedure


def open_query(user: Any, kind: Kind, rec: Any, *, field_name: str, question: str) -> DataQuery:
    patient, procedure = _case_of(rec)
    label = kind.form.label_for(field_name) if field_name else ""
    with transaction.atomic():
        query = DataQuery(
            patient=patient,
            procedure=procedure,
            record_kind=kind.slug,
            record_uuid=rec.uuid,
            field_name=field_name,
            field_label=label,
            question=question.strip(),
            opened_by=user,
            opened_at=timezone.now(),
        )
        query.save()
        record(
            "capture.query.opened", query, after={"record": f"{kind.slug}:{rec.uuid}", "field": field_name}
        )
    return query


def answer_query(user: Any, query: DataQuery, response: str, *, version: int | None = None) -> None:
    """``version``: the query's version the user answered; raises ConcurrentEdit if it changed since."""
    if query.status == QueryStatus.CLOSED:
        raise ValueError("this query is closed")
    if version is not None:
        query.version = version
    with transaction.atomic():
        query.response = response.strip()
        query.answered_by = user
        query.answered_at = timezone.now()
        query.status = QueryStatus.ANSWERED
        query.save(reason="query answered")
        record("capture.query.answered", query, reason="query answered")


def close_query(user: Any, query: DataQuery, note: str, *, version: int | None = None) -> None:
    """``version``: the query's version the opener read; raises ConcurrentEdit if it changed since (e.g. the
    site answered again), so a query is never closed on an answer its opener has not seen."""
    if version is not None:
        query.version = version
    if query.opened_by_id != user.pk:
        raise PermissionError("only the person who opened a query can close it")
    if query.status == QueryStatus.CLOSED:
        raise ValueError("this query is already closed")
    with transaction.atomic():
        query.status = QueryStatus.CLOSED
        query.closed_by = user
        query.closed_at = timezone.now()
        query.close_note = note.strip()
        query.save(reason="query closed")
        record("capture.query.closed", query, reason=note.strip() or "query closed")
