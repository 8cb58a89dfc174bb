"""The follow-up schedule as data, and the status of every time point as a pure function.

No Django here. A schedule is loaded from a versioned JSON file (``pdva/followup/data/schedules/``).
Windows are in days after the index procedure (day 0); annual visits (year 2 onwards, for life) are
anchored on the calendar anniversary of the procedure.

Status of one time point, given what is recorded and a date ``today``:

  completed_in_window      a visit labelled with this time point lies inside the window
  completed_out_of_window  a visit labelled with this time point lies outside it
  not_applicable           no visit, and follow-up stopped (death or withdrawal) on or before the window's
                           last day; or every assessment the time point expects is a limb assessment and the
                           index limb had a major amputation on or before the window's last day
  not_yet_due              today is before the window opens
  due                      the window is open and the target day has not passed
  overdue                  the target day has passed and the window is still open
  missed                   the window has closed with no visit

Recorded visits always win: a visit recorded after death or amputation still shows as completed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

SCHEDULE_DIR = Path(__file__).resolve().parent.parent / "data" / "schedules"
DEFAULT_VERSION = "2026.1"


class Status(StrEnum):
    NOT_YET_DUE = "not_yet_due"
    DUE = "due"
    OVERDUE = "overdue"
    COMPLETED_IN_WINDOW = "completed_in_window"
    COMPLETED_OUT_OF_WINDOW = "completed_out_of_window"
    MISSED = "missed"
    NOT_APPLICABLE = "not_applicable"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


OPEN_STATUSES = frozenset({Status.DUE, Status.OVERDUE})
COMPLETED_STATUSES = frozenset({Status.COMPLETED_IN_WINDOW, Status.COMPLETED_OUT_OF_WINDOW})


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class TimepointRule:
    code: str
    label: str
    open: int
    target: int
    close: int
    expects: tuple[str, ...]


@dataclass(frozen=True)
class AnnualRule:
    code: str
    first_year: int
    open_before: int
    close_after: int
    expects: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    version: str
    timepoints: tuple[TimepointRule, ...]
    annual: AnnualRule | None
    limb_assessments: frozenset[str]
    source: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        try:
            version = str(data["version"])
            rules = tuple(
                TimepointRule(
                    code=t["code"],
                    label=t["label"],
                    open=int(t["open"]),
                    target=int(t["target"]),
                    close=int(t["close"]),
                    expects=tuple(t.get("expects", ())),
                )
                for t in data["timepoints"]
            )
            annual_data = data.get("annual")
            annual = (
                AnnualRule(
                    code=annual_data.get("code", "annual"),
                    first_year=int(annual_data["first_year"]),
                    open_before=int(annual_data["open_before"]),
                    close_after=int(annual_data["close_after"]),
                    expects=tuple(annual_data.get("expects", ())),
                )
                if annual_data
                else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleError(f"malformed schedule: {exc!r}") from exc
        for rule in rules:
            if not 0 <= rule.open <= rule.target <= rule.close:
                raise ScheduleError(f"{rule.code}: need 0 <= open <= target <= close (days)")
        codes = [r.code for r in rules]
        if len(set(codes)) != len(codes):
            raise ScheduleError("time point codes must be unique")
        if annual and (annual.first_year < 1 or annual.open_before < 0 or annual.close_after < 0):
            raise ScheduleError("annual: first_year >= 1 and non-negative window")
        return cls(
            version=version,
            timepoints=rules,
            annual=annual,
            limb_assessments=frozenset(data.get("limb_assessments", ())),
            source=data.get("source", ""),
        )


def available_versions() -> list[str]:
    return sorted(p.stem for p in SCHEDULE_DIR.glob("*.json"))


def load_schedule(version: str = DEFAULT_VERSION) -> Schedule:
    return _load(SCHEDULE_DIR / f"{version}.json", version)


@cache
def _load(path: Path, version: str) -> Schedule:
    """Schedules are immutable data: each file is parsed once per process."""
    if not path.is_file():
        raise ScheduleError(f"no schedule version {version!r}; available: {available_versions()}")
    schedule = Schedule.from_dict(json.loads(path.read_text()))
    if schedule.version != version:
        raise ScheduleError(f"{path.name} declares version {schedule.version!r}")
    return schedule


def anniversary(start: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` later (29 February falls back to 28 February)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


@dataclass(slots=True)  # not frozen: built by the thousand, and frozen dataclasses are slow to create
class Window:
    code: str
    year: int | None  # annual visits only: the year after the procedure (2, 3, ...)
    label: str
    opens: dt.date
    target: dt.date
    closes: dt.date
    expects: tuple[str, ...]

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.code, self.year)

    def contains(self, day: dt.date) -> bool:
        return self.opens <= day <= self.closes


def windows(schedule: Schedule, procedure_date: dt.date) -> Iterator[Window]:
    """Every time point for life, in order: the fixed ones, then one per year (an endless iterator)."""
    day = dt.timedelta(days=1)
    start = procedure_date.toordinal()
    from_ordinal = dt.date.fromordinal
    for rule in schedule.timepoints:
        yield Window(
            rule.code,
            None,
            rule.label,
            from_ordinal(start + rule.open),
            from_ordinal(start + rule.target),
            from_ordinal(start + rule.close),
            rule.expects,
        )
    annual = schedule.annual
    if annual is None:
        return
    year = annual.first_year
    while True:
        target = anniversary(procedure_date, year)
        yield Window(
            annual.code,
            year,
            f"Year {year}",
            target - annual.open_before * day,
            target,
            target + annual.close_after * day,
            annual.expects,
        )
        year += 1


@dataclass(frozen=True)
class PatientCourse:
    """What the status of a procedure's time points depends on (besides the schedule and the clock)."""

    procedure_date: dt.date
    visits: tuple[tuple[str, int | None, dt.date], ...] = ()  # (timepoint code, year, visit date)
    death_date: dt.date | None = None
    withdrawn_date: dt.date | None = None
    index_limb_major_amputation_date: dt.date | None = None

    @property
    def stop_date(self) -> dt.date | None:
        stops = [d for d in (self.death_date, self.withdrawn_date) if d is not None]
        return min(stops) if stops else None


@dataclass(slots=True)
class TimepointStatus:
    window: Window
    status: Status
    visit_date: dt.date | None = None
    expects: tuple[str, ...] = ()  # what still applies (limb assessments dropped after a major amputation)
    limb_assessments_apply: bool = True
    reason: str = ""  # why not applicable


def _visit_for(window: Window, visits: Iterable[tuple[str, int | None, dt.date]]) -> dt.date | None:
    """The visit recorded for this time point: the first one inside the window, else the first one."""
    dates = sorted(d for code, year, d in visits if (code, year if code == "annual" else None) == window.key)
    inside = [d for d in dates if window.contains(d)]
    if inside:
        return inside[0]
    return dates[0] if dates else None


def status_of(window: Window, course: PatientCourse, schedule: Schedule, today: dt.date) -> TimepointStatus:
    amputated = course.index_limb_major_amputation_date
    limb_apply = amputated is None or amputated > window.closes
    expects = (
        window.expects
        if limb_apply
        else tuple(e for e in window.expects if e not in schedule.limb_assessments)
    )
    visit = _visit_for(window, course.visits)
    if visit is not None:
        status = Status.COMPLETED_IN_WINDOW if window.contains(visit) else Status.COMPLETED_OUT_OF_WINDOW
        return TimepointStatus(window, status, visit, expects, limb_apply)
    stop = course.stop_date
    if stop is not None and stop <= window.closes:
        why = "died" if stop == course.death_date else "withdrew from follow-up"
        return TimepointStatus(window, Status.NOT_APPLICABLE, None, (), limb_apply, why)
    if window.expects and not expects:
        return TimepointStatus(
            window, Status.NOT_APPLICABLE, None, (), False, "major amputation of the index limb"
        )
    if today < window.opens:
        status = Status.NOT_YET_DUE
    elif today <= window.target:
        status = Status.DUE
    elif today <= window.closes:
        status = Status.OVERDUE
    else:
        status = Status.MISSED
    return TimepointStatus(window, status, None, expects, limb_apply)


def course_statuses(course: PatientCourse, schedule: Schedule, today: dt.date) -> list[TimepointStatus]:
    """Status of every time point that matters on ``today``.

    Lifelong schedules are endless, so the list stops after the first annual time point that is not yet
    due (the next one coming), or after the first annual one made not applicable by death or withdrawal.
    Every annual time point with a recorded visit is included.
    """
    out: list[TimepointStatus] = []
    recorded_years = [
        y for code, y, _ in course.visits if schedule.annual and code == schedule.annual.code and y
    ]
    last_recorded_year = max(recorded_years, default=0)
    for window in windows(schedule, course.procedure_date):
        result = status_of(window, course, schedule, today)
        out.append(result)
        if window.year is None or window.year < last_recorded_year:
            continue
        if result.status in (Status.NOT_YET_DUE, Status.NOT_APPLICABLE):
            break
    return out
