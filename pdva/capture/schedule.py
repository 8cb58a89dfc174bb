"""Follow-up time points of one index procedure (clinical.md §6), as a pure function.

A fallback for the site worklist until pdva.followup provides the follow-up engine. No Django here.

Windows are in days after the procedure (day 0). A time point is:
  due      when the window is open and the target day has not passed,
  overdue  when the target day has passed but the window is still open,
  missed   when the window has closed with no visit recorded for it.
The 12-month window is 9-21 months (VQI); annual visits run for life from year 2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

# code, label, window open, target, window close (days after the procedure)
FIXED_TIMEPOINTS: tuple[tuple[str, str, int, int, int], ...] = (
    ("w2_6", "2-6 weeks", 14, 28, 42),
    ("m3", "3 months", 61, 91, 120),
    ("m6", "6 months", 152, 182, 240),
    ("m12", "12 months", 274, 365, 639),
)
ANNUAL_BEFORE, ANNUAL_AFTER = 90, 180


@dataclass(frozen=True)
class TimepointDue:
    timepoint: str
    year: int | None
    label: str
    window_open: dt.date
    target: dt.date
    window_close: dt.date
    status: str  # due, overdue, missed

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.timepoint, self.year)


def expected_timepoints(
    procedure_date: dt.date, *, until: dt.date
) -> list[tuple[str, int | None, str, dt.date, dt.date, dt.date]]:
    """Every scheduled time point whose window has opened by ``until``."""
    day = dt.timedelta(days=1)
    out = []
    for code, label, lo, target, hi in FIXED_TIMEPOINTS:
        opens = procedure_date + lo * day
        if opens > until:
            return out
        out.append((code, None, label, opens, procedure_date + target * day, procedure_date + hi * day))
    year = 2
    while True:
        target = procedure_date + 365 * year * day
        opens = target - ANNUAL_BEFORE * day
        if opens > until:
            return out
        out.append(("annual", year, f"Year {year}", opens, target, target + ANNUAL_AFTER * day))
        year += 1


def open_timepoints(
    procedure_date: dt.date,
    done: Iterable[tuple[str, int | None]],
    *,
    today: dt.date,
    stop: dt.date | None = None,
) -> list[TimepointDue]:
    """Time points due, overdue or missed on ``today``; ``done`` holds the (timepoint, year) pairs recorded.

    ``stop`` (death or withdrawal) ends the schedule: nothing whose window opens after it is expected.
    """
    recorded = {(code, year if code == "annual" else None) for code, year in done}
    horizon = min(today, stop) if stop else today
    result = []
    for code, year, label, opens, target, closes in expected_timepoints(procedure_date, until=horizon):
        if (code, year) in recorded:
            continue
        if today > closes:
            status = "missed"
        elif today > target:
            status = "overdue"
        else:
            status = "due"
        result.append(TimepointDue(code, year, label, opens, target, closes, status))
    return result
