"""Site worklists. Each list is built from a fixed number of queries whatever the cohort size."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q

from pdva.capture.models import DataQuery, QueryStatus
from pdva.capture.schedule import open_timepoints
from pdva.capture.services.completeness import case_missing
from pdva.registry import choices as c
from pdva.registry import models as m

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowUpItem:
    procedure: m.Procedure
    label: str
    target: dt.date
    window_close: dt.date
    status: str  # due, overdue, missed


def followups(site_ids: Iterable[int] | None, today: dt.date) -> list[FollowUpItem]:
    """Follow-up time points due, overdue or missed: from the follow-up engine when it exists."""
    engine = _followup_engine()
    if engine is not None:
        try:
            return engine(site_ids, today)
        except Exception:  # the engine is another app's: fall back rather than lose the worklist
            log.exception("pdva.followup engine failed; using the capture schedule")
    return _own_followups(site_ids, today)


def _followup_engine() -> Any:
    try:
        from pdva.followup import services as engine  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(engine, "due_timepoints", None) or getattr(engine, "worklist", None)
    if fn is None:
        return None

    def adapt(site_ids: Iterable[int] | None, today: dt.date) -> list[FollowUpItem]:
        ids = list(m.Site.objects.values_list("pk", flat=True)) if site_ids is None else list(site_ids)
        items = list(fn(ids, today))
        procedures = m.Procedure.objects.select_related("patient").in_bulk(
            [getattr(i, "procedure_id", None) for i in items]
        )
        out = []
        for i in items:
            procedure = procedures.get(getattr(i, "procedure_id", None))
            if procedure is None:
                continue
            out.append(
                FollowUpItem(
                    procedure,
                    str(getattr(i, "label", getattr(i, "timepoint", ""))),
                    getattr(i, "target", None) or getattr(i, "due_date", today),
                    getattr(i, "window_close", None) or getattr(i, "window_end", today),
                    str(getattr(i, "status", "due")),
                )
            )
        return out

    return adapt


def _procedures(site_ids: Iterable[int] | None) -> Any:
    qs = m.Procedure.objects.alive().filter(patient__deleted_at__isnull=True)
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=list(site_ids))
    return qs


def _own_followups(site_ids: Iterable[int] | None, today: dt.date) -> list[FollowUpItem]:
    visits = m.FollowUpVisit.objects.alive().only("procedure_id", "timepoint", "timepoint_year")
    procedures = (
        _procedures(site_ids)
        .select_related("patient", "patient__death")
        .prefetch_related(Prefetch("visits", queryset=visits, to_attr="live_visits"))
    )
    items = []
    for procedure in procedures:
        patient = procedure.patient
        death = getattr(patient, "death", None)
        stops = [
            d
            for d in (death.date_of_death if death and not death.is_deleted else None, patient.withdrawn_date)
            if d
        ]
        done = [(v.timepoint, v.timepoint_year) for v in procedure.live_visits]
        for tp in open_timepoints(
            procedure.procedure_date, done, today=today, stop=min(stops) if stops else None
        ):
            items.append(FollowUpItem(procedure, tp.label, tp.target, tp.window_close, tp.status))
    order = {"overdue": 0, "due": 1, "missed": 2}
    return sorted(items, key=lambda i: (order.get(i.status, 3), i.target))


def case_prefetch(qs: Any) -> Any:
    """Everything completeness needs for a set of procedures, in a fixed number of queries."""
    return qs.select_related("patient", "baseline", "consent").prefetch_related(
        "visits", "adverse_events", "reinterventions", "medications", "proms"
    )


def missing_mandatory(
    site_ids: Iterable[int] | None,
) -> list[tuple[m.Procedure, list[tuple[str, list[tuple[str, str]]]]]]:
    out = []
    for procedure in case_prefetch(_procedures(site_ids)).order_by("procedure_date", "id"):
        missing = case_missing(procedure)
        no_baseline = getattr(procedure, "baseline", None) is None
        no_consent = getattr(procedure, "consent", None) is None
        if no_baseline:
            missing.insert(0, ("Selection and baseline", [("", "not recorded")]))
        if no_consent:
            missing.insert(0, ("Consent and governance checklist", [("", "not recorded")]))
        if missing:
            out.append((procedure, missing))
    return out


def open_queries(site_ids: Iterable[int] | None) -> list[DataQuery]:
    qs = (
        DataQuery.objects.alive()
        .exclude(status=QueryStatus.CLOSED)
        .select_related("patient", "procedure", "opened_by")
    )
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=list(site_ids))
    return list(qs.order_by("opened_at"))


def mhra_unreported(site_ids: Iterable[int] | None) -> list[m.AdverseEvent]:
    qs = (
        m.AdverseEvent.objects.alive()
        .exclude(mhra_reported="yes")
        .filter(Q(serious="yes") | Q(related_to_device__in=c.RELATED_LEVELS))
        .select_related("procedure", "procedure__patient")
        .order_by("onset_date")
    )
    if site_ids is not None:
        qs = qs.filter(procedure__patient__site_id__in=list(site_ids))
    return [ae for ae in qs if ae.needs_mhra_report]
