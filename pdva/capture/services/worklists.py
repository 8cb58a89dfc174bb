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
    procedure_uuid: str
    registry_id: str
    limb: str
    label: str
    target: dt.date
    window_close: dt.date
    status: str  # due, overdue, missed
    source: str  # "engine" (pdva.followup) or "capture" (fallback schedule)


WORKLIST_STATUSES = ("due", "overdue", "missed")
STATUS_ORDER = {"overdue": 0, "due": 1, "missed": 2}


def followups(site_ids: Iterable[int] | None, today: dt.date) -> list[FollowUpItem]:
    """Follow-up time points due, overdue or missed: from the follow-up engine (pdva.followup) when it
    is installed; from capture's own copy of the clinical.md §6 schedule otherwise."""
    try:
        from pdva.followup.services import followup_items
    except ImportError:
        followup_items = None
    if followup_items is not None:
        try:
            items = [
                FollowUpItem(
                    i.procedure_uuid,
                    i.patient_registry_id,
                    LIMB_LABELS.get(i.index_limb, i.index_limb),
                    i.label,
                    i.due_date,
                    i.window_end,
                    i.status,
                    "engine",
                )
                for i in followup_items(site_ids, today, statuses=set(WORKLIST_STATUSES))
            ]
            return sorted(items, key=lambda i: (STATUS_ORDER.get(i.status, 3), i.target))
        except Exception:  # another app's engine: keep the worklist working on our own schedule
            log.exception("pdva.followup engine failed; using the capture schedule")
    return own_followups(site_ids, today)


LIMB_LABELS = dict(c.Limb.choices)


def _procedures(site_ids: Iterable[int] | None) -> Any:
    qs = m.Procedure.objects.alive().filter(patient__deleted_at__isnull=True)
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=list(site_ids))
    return qs


def own_followups(site_ids: Iterable[int] | None, today: dt.date) -> list[FollowUpItem]:
    """The fallback: capture.schedule (clinical.md §6) over the sites' procedures, in 2 queries."""
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
            items.append(
                FollowUpItem(
                    str(procedure.uuid),
                    patient.registry_id,
                    procedure.get_index_limb_display(),
                    tp.label,
                    tp.target,
                    tp.window_close,
                    tp.status,
                    "capture",
                )
            )
    return sorted(items, key=lambda i: (STATUS_ORDER.get(i.status, 3), i.target))


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
