"""Follow-up worklists from the stored statuses (FollowUpStatus), filtered, counted and paged in SQL.

The daily run keeps FollowUpStatus in line with the registry, and ``refresh_procedures`` brings one
course up to date when a save changes it (pdva.followup.signals). Between runs the clock moves a time point
without a visit on (not yet due -> due -> overdue -> missed); the status shown is recomputed from today's
date in SQL, so a list is right on a day the run has not happened yet.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When

from pdva.followup.lib.schedule import PatientCourse, Schedule, Status, course_statuses
from pdva.followup.models import FollowUpStatus
from pdva.followup.services.items import (
    TWELVE_MONTH_CODE,
    ComplianceReport,
    FollowUpItem,
    SiteCompliance,
    _wilson,
    current_schedule,
)
from pdva.registry.models import Amputation, FollowUpVisit, Patient, Procedure, Site

PAGE_SIZE = 50

# Statuses that only the clock changes (no visit recorded, follow-up not stopped), and, for each status
# shown, the stored statuses it can have come from since the last run (time only moves forwards).
CLOCK_STATUSES = (Status.NOT_YET_DUE, Status.DUE, Status.OVERDUE, Status.MISSED)
CAN_BECOME = {
    Status.NOT_YET_DUE: (Status.NOT_YET_DUE,),
    Status.DUE: (Status.NOT_YET_DUE, Status.DUE),
    Status.OVERDUE: (Status.NOT_YET_DUE, Status.DUE, Status.OVERDUE),
    Status.MISSED: CLOCK_STATUSES,
}
DECIDED = (Status.COMPLETED_IN_WINDOW, Status.COMPLETED_OUT_OF_WINDOW, Status.MISSED)


def status_today(today: dt.date) -> Case:
    """The stored status moved on to ``today`` (pdva.followup.lib.schedule.status_of, clock part)."""
    clock = Q(status__in=[str(s) for s in CLOCK_STATUSES])
    return Case(
        When(clock & Q(window_start__gt=today), then=Value(str(Status.NOT_YET_DUE))),
        When(clock & Q(due_date__gte=today), then=Value(str(Status.DUE))),
        When(clock & Q(window_end__gte=today), then=Value(str(Status.OVERDUE))),
        When(clock, then=Value(str(Status.MISSED))),
        default=F("status"),
        output_field=CharField(),
    )


def statuses_in_scope(site_ids: Iterable[int] | None, today: dt.date) -> QuerySet[FollowUpStatus]:
    """Stored time points of live procedures of live patients at the sites (None: every site; an empty
    collection: none, failing closed), with ``now`` the status on ``today``."""
    return _in_scope(site_ids).annotate(now=status_today(today))


def _in_scope(site_ids: Iterable[int] | None) -> QuerySet[FollowUpStatus]:
    # Every status except those of removed procedures or patients: removed rows are few (partial indexes
    # on them), so this is a small anti-join, where joining the live ones read every case of the registry.
    # Two exclusions, not one with OR: each subquery then reads its own small index.
    removed_patients = Patient.objects.filter(deleted_at__isnull=False).values("id")
    qs = FollowUpStatus.objects.exclude(
        procedure_id__in=Procedure.objects.filter(deleted_at__isnull=False).values("id")
    ).exclude(procedure_id__in=Procedure.objects.filter(patient_id__in=removed_patients).values("id"))
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    return qs


def today_is(code: str, today: dt.date) -> Q:
    """Time points whose status on ``today`` is ``code``: the CASE of status_today written as ranges on
    the window dates (which indexes can serve), limited to the stored statuses it can have come from."""
    status = Status(code)
    came_from = [str(s) for s in CAN_BECOME.get(status, (status,))]
    if status == Status.NOT_YET_DUE:
        return Q(status__in=came_from, window_start__gt=today)
    if status == Status.DUE:
        return Q(status__in=came_from, window_start__lte=today, due_date__gte=today)
    if status == Status.OVERDUE:
        return Q(status__in=came_from, due_date__lt=today, window_end__gte=today)
    if status == Status.MISSED:
        return Q(status__in=came_from, window_end__lt=today)
    return Q(status=str(status))  # completed or not applicable: only a save or the run changes these


def with_status(
    qs: QuerySet[FollowUpStatus], statuses: Collection[str], today: dt.date
) -> QuerySet[FollowUpStatus]:
    """Keep the time points whose status on ``today`` is one of ``statuses``."""
    wanted = Q(pk__in=[])
    for code in statuses:
        wanted |= today_is(code, today)
    return qs.filter(wanted)


def worklist(site_ids: Iterable[int] | None, today: dt.date, statuses: Collection[str]) -> QuerySet:
    """The rows of a worklist, oldest due date first, ready for paging (values, not model instances)."""
    return (
        with_status(statuses_in_scope(site_ids, today), statuses, today)
        .order_by("due_date", "pk")  # the (site, due_date, id) index: a page without sorting them all
        .values(
            "pk",
            "procedure_id",
            "procedure__uuid",
            "procedure__patient_id",
            "procedure__patient__registry_id",
            "site_id",
            "site__ods_code",
            "procedure__index_limb",
            "procedure__procedure_date",
            "timepoint",
            "year",
            "window_start",
            "due_date",
            "window_end",
            "now",
            "visit_date",
            "schedule_version",
        )
    )


def count(site_ids: Iterable[int] | None, today: dt.date, statuses: Collection[str]) -> Callable[[], int]:
    """How many rows ``worklist`` has, counted without the joins it needs only to show them."""
    return lambda: with_status(_in_scope(site_ids), statuses, today).count()


def _limb_amputations(rows: list[dict]) -> dict[int, dt.date]:
    """Per procedure on the page, the first major amputation of its index limb on or after it."""
    patients = {r["procedure__patient_id"] for r in rows}
    by_patient_limb: dict[tuple[int, str], list[dt.date]] = defaultdict(list)
    for patient_id, limb, day in (
        Amputation.objects.alive()
        .filter(is_major=True, patient_id__in=patients)
        .values_list("patient_id", "limb", "date")
    ):
        by_patient_limb[(patient_id, limb)].append(day)
    out = {}
    for r in rows:
        days = [
            d
            for d in by_patient_limb.get((r["procedure__patient_id"], r["procedure__index_limb"]), [])
            if d >= r["procedure__procedure_date"]
        ]
        if days:
            out[r["procedure_id"]] = min(days)
    return out


def as_items(rows: Iterable[dict], schedule: Schedule | None = None) -> list[FollowUpItem]:
    """Worklist rows (one page) as FollowUpItem, with the label and what is still expected (one query)."""
    rows = list(rows)
    schedule = schedule or current_schedule()
    rules = {r.code: r for r in schedule.timepoints}
    amputated = _limb_amputations(rows)
    items = []
    for r in rows:
        rule = rules.get(r["timepoint"])
        annual = schedule.annual if schedule.annual and r["timepoint"] == schedule.annual.code else None
        label = rule.label if rule else (f"Year {r['year']}" if annual else r["timepoint"])
        expects = rule.expects if rule else (annual.expects if annual else ())
        amputation = amputated.get(r["procedure_id"])
        limb_apply = amputation is None or amputation > r["window_end"]
        if not limb_apply:
            expects = tuple(e for e in expects if e not in schedule.limb_assessments)
        items.append(
            FollowUpItem(
                procedure_id=r["procedure_id"],
                procedure_uuid=str(r["procedure__uuid"]),
                patient_id=r["procedure__patient_id"],
                patient_registry_id=r["procedure__patient__registry_id"],
                site_id=r["site_id"],
                site_ods_code=r["site__ods_code"],
                index_limb=r["procedure__index_limb"],
                procedure_date=r["procedure__procedure_date"],
                timepoint=r["timepoint"],
                year=r["year"] or None,
                label=label,
                window_start=r["window_start"],
                due_date=r["due_date"],
                window_end=r["window_end"],
                status=r["now"],
                visit_date=r["visit_date"],
                expects=tuple(expects),
                limb_assessments_apply=limb_apply,
                reason="",
                schedule_version=r["schedule_version"],
            )
        )
    return items


def counts_by_site(
    site_ids: Iterable[int] | None, today: dt.date, statuses: Collection[str]
) -> dict[int, dict[str, int]]:
    """{site id: {status: time points}} for the statuses asked for, in one GROUP BY."""
    out: dict[int, dict[str, int]] = {}
    rows = (
        with_status(statuses_in_scope(site_ids, today), statuses, today)
        .values("site_id", "now")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        out.setdefault(row["site_id"], dict.fromkeys(statuses, 0))[row["now"]] = row["n"]
    return out


def compliance_12m(site_ids: Iterable[int] | None, today: dt.date) -> ComplianceReport:
    """As pdva.followup.services.compliance_12m, counted in SQL from the stored statuses: of 12-month time
    points that are decided (completed, or window closed), the share completed inside the window."""
    schedule = current_schedule()
    if site_ids is not None:
        site_ids = list(site_ids)
    decided = with_status(
        statuses_in_scope(site_ids, today).filter(timepoint=TWELVE_MONTH_CODE),
        [str(s) for s in DECIDED],
        today,
    )
    counts = {
        row["site_id"]: (row["n"], row["x"])
        for row in decided.values("site_id")
        .annotate(n=Count("pk"), x=Count("pk", filter=Q(now=str(Status.COMPLETED_IN_WINDOW))))
        .order_by()
    }
    sites = Site.objects.order_by("ods_code")
    if site_ids is not None:
        sites = sites.filter(pk__in=site_ids)
    rows = []
    for site in sites:
        n, x = counts.get(site.pk, (0, 0))
        rate, lo, hi = _wilson(x, n)
        rows.append(SiteCompliance(site.pk, site.ods_code, site.name, n, x, rate, lo, hi))
    n_all = sum(r.eligible for r in rows)
    x_all = sum(r.completed_in_window for r in rows)
    rate, lo, hi = _wilson(x_all, n_all)
    national = SiteCompliance(None, "ALL", "All sites shown", n_all, x_all, rate, lo, hi)
    return ComplianceReport(today, schedule.version, rows, national)


def last_run() -> dt.date | None:
    """The date of the last daily run that finished without error: what the stored statuses reflect
    (procedures loaded in bulk since then join the lists at the next run)."""
    from pdva.followup.models import FollowUpRun

    return (
        FollowUpRun.objects.filter(finished_at__isnull=False, error="")
        .order_by("-started_at")
        .values_list("run_date", flat=True)
        .first()
    )


# --- keeping one course current --------------------------------------------------------------------------


@dataclass
class _Course:
    row: dict[str, Any]
    course: PatientCourse


def _courses(procedure_ids: set[int]) -> dict[int, _Course]:
    """The live ones among these procedures, with what their schedule depends on (3 queries)."""
    rows = list(
        Procedure.objects.alive()
        .filter(pk__in=procedure_ids, patient__deleted_at__isnull=True)
        .values(
            "pk",
            "patient_id",
            "patient__site_id",
            "patient__withdrawn_date",
            "patient__death__date_of_death",
            "patient__death__deleted_at",
            "index_limb",
            "procedure_date",
        )
    )
    if not rows:
        return {}
    ids = [r["pk"] for r in rows]
    visits: dict[int, list[tuple[str, int | None, dt.date]]] = defaultdict(list)
    for procedure_id, code, year, day in (
        FollowUpVisit.objects.alive()
        .filter(procedure_id__in=ids)
        .values_list("procedure_id", "timepoint", "timepoint_year", "visit_date")
    ):
        visits[procedure_id].append((code, year, day))
    amputations: dict[tuple[int, str], list[dt.date]] = defaultdict(list)
    for patient_id, limb, day in (
        Amputation.objects.alive()
        .filter(is_major=True, patient_id__in={r["patient_id"] for r in rows})
        .values_list("patient_id", "limb", "date")
    ):
        amputations[(patient_id, limb)].append(day)
    out = {}
    for r in rows:
        death = r["patient__death__date_of_death"] if r["patient__death__deleted_at"] is None else None
        limb_amps = [
            d for d in amputations.get((r["patient_id"], r["index_limb"]), []) if d >= r["procedure_date"]
        ]
        out[r["pk"]] = _Course(
            r,
            PatientCourse(
                procedure_date=r["procedure_date"],
                visits=tuple(visits.get(r["pk"], ())),
                death_date=death,
                withdrawn_date=r["patient__withdrawn_date"],
                index_limb_major_amputation_date=min(limb_amps) if limb_amps else None,
            ),
        )
    return out


def refresh_procedures(procedure_ids: Iterable[int], today: dt.date | None = None) -> int:
    """Bring the stored statuses of these procedures in line with the registry, as the daily run would.

    Only courses the run has already stored are touched: a procedure new since the last run waits for the
    next one (its first time point is weeks away), and a removed procedure's rows are left for the run to
    clear (the lists leave removed procedures out already). Returns the number of rows written or removed.
    """
    from django.utils import timezone

    ids = {int(pk) for pk in procedure_ids if pk is not None}
    if ids:
        ids = set(FollowUpStatus.objects.filter(procedure_id__in=ids).values_list("procedure_id", flat=True))
    if not ids:
        return 0
    today = today or timezone.localdate()
    schedule = current_schedule()
    courses = _courses(ids)
    fields = ["site_id", "schedule_version", "status", "window_start", "due_date", "window_end", "visit_date"]
    written = 0
    with transaction.atomic():
        existing = {
            (s.procedure_id, s.timepoint, s.year): s
            for s in FollowUpStatus.objects.select_for_update().filter(procedure_id__in=ids)
        }
        fresh, changed, seen = [], [], set()
        for procedure_id, c in courses.items():
            for result in course_statuses(c.course, schedule, today):
                w = result.window
                key = (procedure_id, w.code, w.year or 0)
                seen.add(key)
                values = {
                    "site_id": c.row["patient__site_id"],
                    "schedule_version": schedule.version,
                    "status": str(result.status),
                    "window_start": w.opens,
                    "due_date": w.target,
                    "window_end": w.closes,
                    "visit_date": result.visit_date,
                }
                row = existing.get(key)
                if row is None:
                    fresh.append(
                        FollowUpStatus(
                            procedure_id=procedure_id,
                            timepoint=w.code,
                            year=w.year or 0,
                            status_since=today,
                            **values,
                        )
                    )
                elif any(getattr(row, k) != v for k, v in values.items()):
                    if row.status != values["status"]:
                        row.status_since = today
                    for k, v in values.items():
                        setattr(row, k, v)
                    changed.append(row)
        # Time points a live course no longer has (e.g. annual ones after a death); removed courses stay.
        gone = [row.pk for key, row in existing.items() if key[0] in courses and key not in seen]
        FollowUpStatus.objects.bulk_create(fresh)
        FollowUpStatus.objects.bulk_update(changed, [*fields, "status_since"])
        FollowUpStatus.objects.filter(pk__in=gone).delete()
        written = len(fresh) + len(changed) + len(gone)
    return written
