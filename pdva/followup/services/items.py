"""Follow-up items and 12-month compliance for a set of sites, in a constant number of queries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from pdva.followup.lib.schedule import (
    DEFAULT_VERSION,
    PatientCourse,
    Schedule,
    Status,
    course_statuses,
    load_schedule,
)
from pdva.registry.models import Amputation, FollowUpVisit, Procedure, Site

TWELVE_MONTH_CODE = "m12"


@dataclass(slots=True)  # treat as read-only; not frozen because frozen dataclasses are slow to build
class FollowUpItem:
    procedure_id: int
    procedure_uuid: str
    patient_id: int
    patient_registry_id: str
    site_id: int
    site_ods_code: str
    index_limb: str
    procedure_date: dt.date
    timepoint: str
    year: int | None
    label: str
    window_start: dt.date
    due_date: dt.date
    window_end: dt.date
    status: str
    visit_date: dt.date | None
    expects: tuple[str, ...]
    limb_assessments_apply: bool
    reason: str
    schedule_version: str

    @property
    def status_label(self) -> str:
        return Status(self.status).label


def current_schedule() -> Schedule:
    from pdva.followup.models import ScheduleAdoption

    adopted = ScheduleAdoption.objects.alive().order_by("-created_at", "-pk").first()
    return load_schedule(adopted.version if adopted else DEFAULT_VERSION)


PkRange = tuple[int, int]  # procedure ids, first and last inclusive: one batch of a streamed run


def followed_procedures() -> QuerySet[Procedure]:
    """The index procedures that have a follow-up course (live, of a live patient)."""
    return Procedure.objects.alive().filter(patient__deleted_at__isnull=True)


def _procedures(site_ids: Iterable[int] | None, pk_range: PkRange | None = None) -> list[dict]:
    qs = followed_procedures()
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=list(site_ids))
    if pk_range is not None:
        qs = qs.filter(pk__gte=pk_range[0], pk__lte=pk_range[1])
    return list(
        qs.order_by("patient__site_id", "procedure_date", "pk").values(
            "pk",
            "uuid",
            "patient_id",
            "patient__registry_id",
            "patient__site_id",
            "patient__site__ods_code",
            "patient__withdrawn_date",
            "patient__death__date_of_death",
            "patient__death__deleted_at",
            "index_limb",
            "procedure_date",
        )
    )


def courses(
    site_ids: Iterable[int] | None, *, pk_range: PkRange | None = None
) -> list[tuple[dict, PatientCourse]]:
    """Each live index procedure with what its schedule depends on (3 queries); ``pk_range``: only the
    procedures with ids in that range (a batch), and only their visits and amputations."""
    if site_ids is not None:
        site_ids = list(site_ids)
        if not site_ids:
            return []
    procedures = _procedures(site_ids, pk_range)
    if not procedures:
        return []
    visits: dict[int, list[tuple[str, int | None, dt.date]]] = defaultdict(list)
    visit_qs = FollowUpVisit.objects.alive().filter(procedure__deleted_at__isnull=True)
    amputation_qs = Amputation.objects.alive().filter(is_major=True)
    if site_ids is not None:
        visit_qs = visit_qs.filter(procedure__patient__site_id__in=site_ids)
        amputation_qs = amputation_qs.filter(patient__site_id__in=site_ids)
    if pk_range is not None:
        visit_qs = visit_qs.filter(procedure_id__gte=pk_range[0], procedure_id__lte=pk_range[1])
        amputation_qs = amputation_qs.filter(patient_id__in={row["patient_id"] for row in procedures})
    for procedure_id, code, year, day in visit_qs.values_list(
        "procedure_id", "timepoint", "timepoint_year", "visit_date"
    ):
        visits[procedure_id].append((code, year, day))
    amputations: dict[tuple[int, str], list[dt.date]] = defaultdict(list)
    for patient_id, limb, day in amputation_qs.values_list("patient_id", "limb", "date"):
        amputations[(patient_id, limb)].append(day)
    out = []
    for row in procedures:
        death = row["patient__death__date_of_death"] if row["patient__death__deleted_at"] is None else None
        # Only an amputation on or after the index procedure ends limb follow-up of that procedure.
        limb_amps = [
            d
            for d in amputations.get((row["patient_id"], row["index_limb"]), [])
            if d >= row["procedure_date"]
        ]
        out.append(
            (
                row,
                PatientCourse(
                    procedure_date=row["procedure_date"],
                    visits=tuple(visits.get(row["pk"], ())),
                    death_date=death,
                    withdrawn_date=row["patient__withdrawn_date"],
                    index_limb_major_amputation_date=min(limb_amps) if limb_amps else None,
                ),
            )
        )
    return out


def followup_items(
    site_ids: Iterable[int] | None,
    today: dt.date,
    *,
    schedule: Schedule | None = None,
    statuses: Collection[str] | None = None,
    pk_range: PkRange | None = None,
) -> list[FollowUpItem]:
    """See the package docstring (pdva.followup.services)."""
    schedule = schedule or current_schedule()
    wanted = set(statuses) if statuses is not None else None
    items: list[FollowUpItem] = []
    for row, course in courses(site_ids, pk_range=pk_range):
        for result in course_statuses(course, schedule, today):
            if wanted is not None and result.status not in wanted:
                continue
            w = result.window
            items.append(
                FollowUpItem(
                    procedure_id=row["pk"],
                    procedure_uuid=str(row["uuid"]),
                    patient_id=row["patient_id"],
                    patient_registry_id=row["patient__registry_id"],
                    site_id=row["patient__site_id"],
                    site_ods_code=row["patient__site__ods_code"],
                    index_limb=row["index_limb"],
                    procedure_date=row["procedure_date"],
                    timepoint=w.code,
                    year=w.year,
                    label=w.label,
                    window_start=w.opens,
                    due_date=w.target,
                    window_end=w.closes,
                    status=str(result.status),
                    visit_date=result.visit_date,
                    expects=result.expects,
                    limb_assessments_apply=result.limb_assessments_apply,
                    reason=result.reason,
                    schedule_version=schedule.version,
                )
            )
    return items


@dataclass(frozen=True)
class SiteCompliance:
    site_id: int | None  # None for the national row
    ods_code: str
    name: str
    eligible: int
    completed_in_window: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class ComplianceReport:
    today: dt.date
    schedule_version: str
    sites: list[SiteCompliance]
    national: SiteCompliance


def _wilson(x: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    from pdva.stats.proportions import proportion_ci

    ci = proportion_ci(x, n)
    return x / n, float(ci.lower), float(ci.upper)


def compliance_12m(
    site_ids: Iterable[int] | None, today: dt.date, *, schedule: Schedule | None = None
) -> ComplianceReport:
    """See the package docstring (pdva.followup.services)."""
    schedule = schedule or current_schedule()
    if site_ids is not None:
        site_ids = list(site_ids)
    decided = {Status.COMPLETED_IN_WINDOW, Status.COMPLETED_OUT_OF_WINDOW, Status.MISSED}
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for item in followup_items(site_ids, today, schedule=schedule):
        if item.timepoint != TWELVE_MONTH_CODE or item.status not in decided:
            continue
        counts[item.site_id][0] += 1
        counts[item.site_id][1] += item.status == Status.COMPLETED_IN_WINDOW
    sites_qs = Site.objects.order_by("ods_code")
    if site_ids is not None:
        sites_qs = sites_qs.filter(pk__in=site_ids)
    rows = []
    for site in sites_qs:
        n, x = counts.get(site.pk, [0, 0])
        rate, lo, hi = _wilson(x, n)
        rows.append(SiteCompliance(site.pk, site.ods_code, site.name, n, x, rate, lo, hi))
    n_all = sum(r.eligible for r in rows)
    x_all = sum(r.completed_in_window for r in rows)
    rate, lo, hi = _wilson(x_all, n_all)
    national = SiteCompliance(None, "ALL", "All sites shown", n_all, x_all, rate, lo, hi)
    return ComplianceReport(today, schedule.version, rows, national)
