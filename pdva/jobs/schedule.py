"""Scheduled (periodic) jobs: one list, used by procrastinate's periodic deferrer on PostgreSQL and by the
local scheduler of `pdva worker` on the SQLite demo. Cron expressions are in UTC; a sixth field is seconds.

Each run is one Job whose ``dedupe_key`` is ``kind@timestamp`` (unique), and on PostgreSQL procrastinate's
``procrastinate_periodic_defers`` table has a unique (task, periodic id, timestamp) constraint: however many
workers are up, a period runs once.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import croniter
from django.conf import settings

# How late a worker that starts (or a cron `pdva worker --until-idle`) may still start a missed period;
# procrastinate's own default, so both backends behave alike.
MAX_DELAY_SECONDS = 10 * 60


@dataclass(frozen=True)
class Periodic:
    kind: str
    cron: str
    description: str

    def previous_tick(self, at: float) -> int:
        return int(round(croniter.croniter(self.cron, at).get_prev(float)))

    def next_tick(self, at: float) -> int:
        return int(round(croniter.croniter(self.cron, at).get_next(float)))

    def dedupe_key(self, timestamp: int) -> str:
        return f"{self.kind}@{timestamp}"


DEFAULTS = (
    Periodic(
        "followup.daily_run",
        "30 1 * * *",
        "Daily follow-up run: refresh every time point's status, score new PROMs, send due PROM reminders",
    ),
    Periodic(
        "followup.digests",
        "0 7 * * *",
        "Weekly follow-up digests: each site's digest for the ISO week, to its data managers (the first "
        "run of the week sends; a site whose digest failed is tried again the next day)",
    ),
    Periodic(
        "reports.quarterly",
        # The 15th, not the 1st: two weeks for the quarter's last procedures to have their early data entered.
        "0 6 15 1,4,7,10 *",
        "Quarterly governance reports: the last complete quarter's PDF emailed to each site's governance lead",
    ),
    Periodic("jobs.cleanup", "15 3 * * *", "Delete job result files older than PDVA_JOBS_RESULT_HOURS"),
    Periodic(
        "audit.checkpoint", "20 * * * *", "Hourly checkpoint of the audit chain's head, outside the database"
    ),
    Periodic(
        "audit.verify", "40 2 * * *", "Daily audit verification: chain, checkpoints, data against the trail"
    ),
)


def entries() -> list[Periodic]:
    """The schedule, with any cron overridden by settings.PDVA_JOBS_CRON ({kind: cron})."""
    overrides: dict[str, str] = getattr(settings, "PDVA_JOBS_CRON", {}) or {}
    unknown = set(overrides) - {p.kind for p in DEFAULTS}
    if unknown:
        raise ValueError(f"PDVA_JOBS_CRON names unknown scheduled job(s): {', '.join(sorted(unknown))}")
    return [Periodic(p.kind, overrides.get(p.kind, p.cron), p.description) for p in DEFAULTS]


def due(now: float | None = None) -> list[tuple[Periodic, int]]:
    """Each scheduled job whose latest period started at most MAX_DELAY_SECONDS ago, with that period."""
    now = time.time() if now is None else now
    out = []
    for periodic in entries():
        tick = periodic.previous_tick(now)
        if now - tick <= MAX_DELAY_SECONDS:
            out.append((periodic, tick))
    return out


def as_datetime(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
