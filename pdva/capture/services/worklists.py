"""Site worklists: follow-ups due, overdue and missed, cases with missing mandatory data, open queries and
adverse events to report to the MHRA. Each list is a query filtered, counted and paged in the database:
no list checks every case of a site in Python per request.

Follow-up statuses come from the statuses pdva.followup stores (its daily run, kept current by saves);
mandatory-item completeness from CaseCompleteness, derived when a case record is saved.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from pdva.capture.models import CaseCompleteness, DataQuery, QueryStatus
from pdva.capture.schedule import open_timepoints
from pdva.capture.services.completeness import case_missing
from pdva.core.paging import CountedRows
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
    source: str  # "engine" (pdva.followup's stored statuses) or "capture" (fallback schedule)


WORKLIST_STATUSES = ("due", "overdue", "missed")
STATUS_ORDER = {"overdue": 0, "due": 1, "missed": 2}
LIMB_LABELS = dict(c.Limb.choices)


@dataclass(frozen=True)
class FollowUpList:
    """Rows to page (a queryset, or a list from the fallback schedule) and how to show one page of them."""

    rows: Any
    to_items: Callable[[list[Any]], list[FollowUpItem]]
    source: str


def followup_list(site_ids: Iterable[int] | None, today: dt.date, statuses: Iterable[str]) -> FollowUpList:
    """Time points with these statuses today, oldest target first: from pdva.followup's stored statuses
    when it is installed, from capture's own copy of the clinical.md §6 schedule otherwise."""
    wanted = tuple(statuses)
    try:
        from pdva.followup.services import worklist as engine
    except ImportError:
        return own_followup_list(site_ids, today, wanted)

    def to_items(rows: list[dict]) -> list[FollowUpItem]:
        if not rows:
            return []
        return [
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
            for i in engine.as_items(rows)
        ]

    rows = engine.worklist(site_ids, today, wanted)
    return FollowUpList(CountedRows(rows, engine.count(site_ids, today, wanted)), to_items, "engine")


def own_followup_list(
    site_ids: Iterable[int] | None, today: dt.date, statuses: tuple[str, ...]
) -> FollowUpList:
    items = [i for i in own_followups(site_ids, today) if i.status in statuses]
    return FollowUpList(sorted(items, key=lambda i: (i.target, i.registry_id)), list, "capture")


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


# --- mandatory-item completeness ------------------------------------------------------------------------

ABSENT = [("", "not recorded")]
COMPLETENESS_JOB = "capture.refresh_completeness"  # registered in pdva/capture/jobs.py
COMPLETENESS_BATCH = 500


def case_prefetch(qs: Any) -> Any:
    """Everything completeness needs for a set of procedures, in a fixed number of queries."""
    return qs.select_related("patient", "baseline", "consent").prefetch_related(
        "visits", "adverse_events", "reinterventions", "medications", "proms"
    )


def missing_items(procedure: m.Procedure) -> list[tuple[str, list[tuple[str, str]]]]:
    """(record title, [(field, label)]) of a case's missing mandatory items; absent baseline and consent
    records first (the case was loaded with case_prefetch)."""
    missing = case_missing(procedure)
    baseline = getattr(procedure, "baseline", None)
    consent = getattr(procedure, "consent", None)
    if baseline is None or baseline.deleted_at is not None:
        missing.insert(0, ("Selection and baseline", ABSENT))
    if consent is None or consent.deleted_at is not None:
        missing.insert(0, ("Consent and governance checklist", ABSENT))
    return missing


def refresh_completeness(
    procedure_ids: Iterable[int] | None = None,
    *,
    site_ids: Iterable[int] | None = None,
    only_unchecked: bool = False,
    batch_size: int = COMPLETENESS_BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute the stored completeness of these procedures (default: all, or those of ``site_ids``;
    ``only_unchecked``: those with none stored), ``batch_size`` cases per query round. Removed cases lose
    their row. Returns the number of cases checked."""
    qs = m.Procedure.objects.all()
    if procedure_ids is not None:
        qs = qs.filter(pk__in={int(pk) for pk in procedure_ids})
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=list(site_ids))
    if only_unchecked:
        qs = qs.exclude(Exists(CaseCompleteness.objects.filter(procedure_id=OuterRef("pk"))))
    ids = list(qs.order_by("pk").values_list("pk", flat=True))
    done = 0
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        now = timezone.now()
        rows = []
        live = case_prefetch(m.Procedure.objects.filter(pk__in=batch, deleted_at__isnull=True))
        for procedure in live.filter(patient__deleted_at__isnull=True):
            missing = missing_items(procedure)
            rows.append(
                CaseCompleteness(
                    procedure_id=procedure.pk,
                    site_id=procedure.patient.site_id,
                    procedure_date=procedure.procedure_date,
                    n_missing=sum(len(fields) for _, fields in missing),
                    missing=[[title, [list(f) for f in fields]] for title, fields in missing],
                    computed_at=now,
                )
            )
        kept = {row.procedure_id for row in rows}
        with transaction.atomic():
            CaseCompleteness.objects.filter(procedure_id__in=[pk for pk in batch if pk not in kept]).delete()
            CaseCompleteness.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["procedure"],
                update_fields=["site", "procedure_date", "n_missing", "missing", "computed_at"],
            )
        done += len(batch)
        if progress is not None:
            progress(done)
    forget_unchecked_counts()
    return done


def missing_mandatory(site_ids: Iterable[int] | None) -> QuerySet[CaseCompleteness]:
    """Cases at the sites with mandatory items missing, oldest first. Rows exist only for live cases of
    live patients (removing one re-checks it, which deletes its row), so no join is needed to filter."""
    qs = CaseCompleteness.objects.filter(n_missing__gt=0)
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    return qs.select_related("procedure__patient").order_by("procedure_date", "procedure_id")


def as_missing_rows(rows: Iterable[CaseCompleteness]) -> list[tuple[m.Procedure, list]]:
    return [(row.procedure, row.missing) for row in rows]


# The unchecked count costs two counts of whole tables (tens of ms at national scale) and changes only
# after a bulk load or a completeness run: each process keeps it this long. A run in this process forgets
# it at once (the generation below); other processes see the change within the minute.
UNCHECKED_CACHE_SECONDS = 60
_UNCHECKED_GENERATION = "capture:unchecked:generation"


def forget_unchecked_counts() -> None:
    try:
        cache.incr(_UNCHECKED_GENERATION)
    except ValueError:  # not set yet (or expired): any new value makes the old keys unreachable
        cache.set(_UNCHECKED_GENERATION, 1, None)


def unchecked_cases(site_ids: Iterable[int] | None) -> int:
    """Live cases with no stored completeness (loaded in bulk since), as of at most a minute ago."""
    scope = "all" if site_ids is None else ",".join(map(str, sorted(site_ids)))
    generation = cache.get(_UNCHECKED_GENERATION, 0)
    key = f"capture:unchecked:{generation}:{scope}"
    cached = cache.get(key)
    if cached is None:
        cached = _count_unchecked(site_ids)
        cache.set(key, cached, UNCHECKED_CACHE_SECONDS)
    return int(cached)


def _count_unchecked(site_ids: Iterable[int] | None) -> int:
    """Live cases minus stored rows: two counts rather than an anti-join over every case of the site."""
    # Fast path, two counts of whole tables: rows exist only for live cases, which are among the
    # procedures not removed; as many rows as those procedures means every live case is checked.
    if CaseCompleteness.objects.count() >= m.Procedure.objects.filter(deleted_at__isnull=True).count():
        return 0
    stored = CaseCompleteness.objects.all()
    if site_ids is not None:
        stored = stored.filter(site_id__in=list(site_ids))
    return max(0, _procedures(site_ids).count() - stored.count())


def queue_completeness_check(site_ids: Iterable[int] | None) -> None:
    """Check the unchecked cases of these sites in the background (pdva.jobs), or leave them to
    ``pdva completeness --unchecked`` where there is no job queue."""
    from django.apps import apps
    from django.db import IntegrityError

    if not apps.is_installed("pdva.jobs"):
        return
    from pdva.jobs.services import enqueue

    sites = None if site_ids is None else sorted(site_ids)
    scope = "all" if sites is None else ",".join(map(str, sites))
    try:
        # One job an hour per scope however often the page is opened (the key is unique).
        enqueue(
            COMPLETENESS_JOB,
            site_ids=sites,
            dedupe_key=f"{COMPLETENESS_JOB}:{scope}:{timezone.now():%Y-%m-%dT%H}",
        )
    except IntegrityError:
        pass
    except Exception:  # the worklist still shows what is stored
        log.exception("could not queue the completeness check")


# --- queries and MHRA -----------------------------------------------------------------------------------


def open_queries(site_ids: Iterable[int] | None) -> QuerySet[DataQuery]:
    qs = (
        DataQuery.objects.alive()
        .exclude(status=QueryStatus.CLOSED)
        .select_related("patient", "procedure", "opened_by")
    )
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=list(site_ids))
    return qs.order_by("opened_at", "pk")


# The events AdverseEvent.needs_mhra_report marks, not yet reported: the condition of the partial index
# registry_ae_mhra_open (capture migration 0002), so both lists read the index, not the table.
MHRA_OUTSTANDING = (Q(serious="yes") | Q(related_to_device__in=c.RELATED_LEVELS)) & ~Q(mhra_reported="yes")


def mhra_unreported(
    site_ids: Iterable[int] | None, *, newest_first: bool = False
) -> QuerySet[m.AdverseEvent]:
    qs = (
        m.AdverseEvent.objects.alive()
        .filter(MHRA_OUTSTANDING)
        .filter(procedure__deleted_at__isnull=True, procedure__patient__deleted_at__isnull=True)
        .select_related("procedure", "procedure__patient")
    )
    if site_ids is not None:
        qs = qs.filter(procedure__patient__site_id__in=list(site_ids))
    return qs.order_by("-onset_date", "-pk") if newest_first else qs.order_by("onset_date", "pk")
