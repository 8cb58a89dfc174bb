"""``pdva followup run``: refresh every time point's status, score new PROMs, send reminders and the weekly
digests. Idempotent: a second run on the same day changes nothing and sends nothing new."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from pdva.audit.bulk import insert_new
from pdva.followup.lib.schedule import Schedule
from pdva.followup.models import FollowUpRun, FollowUpStatus
from pdva.followup.services.items import PkRange, current_schedule, followed_procedures, followup_items
from pdva.registry.models import Procedure

if TYPE_CHECKING:
    from pdva.proms.services.batch_scoring import ScoringResult

ProgressFn = Callable[[int, int], None]  # (done, total), e.g. pdva.core.progress.Progress

Key = tuple[int, str, int]


@dataclass
class RefreshResult:
    created: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0


REFRESH_BATCH = 2000  # index procedures per transaction (about 7 time points each)

STATUS_FIELDS = [
    "site_id",
    "schedule_version",
    "status",
    "window_start",
    "due_date",
    "window_end",
    "visit_date",
]


def refresh_statuses(
    today: dt.date,
    *,
    schedule: Schedule | None = None,
    batch_size: int = REFRESH_BATCH,
    progress: ProgressFn | None = None,
) -> RefreshResult:
    """Bring FollowUpStatus in line with the schedule and the registry on ``today``.

    Streamed by ranges of ``batch_size`` procedure ids, one transaction each, so memory is bounded by the
    batch. The ranges meet end to end over every procedure id, so each stored status (also of a procedure
    since removed, or of a removed patient's) falls in exactly one range and is kept, changed or cleared.
    """
    schedule = schedule or current_schedule()
    result = RefreshResult()
    total = followed_procedures().count()
    # Every procedure's id, also removed ones': their stored statuses fall in a range and are cleared.
    bounds = Procedure.objects.aggregate(first=Min("pk"), last=Max("pk"))
    if progress:
        progress(0, total)
    done = 0
    if bounds["first"] is not None:
        for start in range(bounds["first"], bounds["last"] + 1, batch_size):
            with transaction.atomic():
                done += _refresh_range(today, schedule, (start, start + batch_size - 1), result)
            if progress:
                progress(min(done, total), total)
    if progress and done < total:
        progress(done, done)
    return result


def _refresh_range(today: dt.date, schedule: Schedule, pk_range: PkRange, result: RefreshResult) -> int:
    """Refresh the statuses of the index procedures with ids in ``pk_range``; returns how many are
    followed up."""
    first, last = pk_range
    existing: dict[Key, FollowUpStatus] = {
        (s.procedure_id, s.timepoint, s.year): s
        for s in FollowUpStatus.objects.filter(procedure_id__gte=first, procedure_id__lte=last)
    }
    fresh, changed = [], []
    seen: set[Key] = set()
    items = followup_items(None, today, schedule=schedule, pk_range=pk_range)
    for item in items:
        key = (item.procedure_id, item.timepoint, item.year or 0)
        seen.add(key)
        values = {
            "site_id": item.site_id,
            "schedule_version": item.schedule_version,
            "status": item.status,
            "window_start": item.window_start,
            "due_date": item.due_date,
            "window_end": item.window_end,
            "visit_date": item.visit_date,
        }
        row = existing.get(key)
        if row is None:
            fresh.append(
                FollowUpStatus(
                    procedure_id=item.procedure_id,
                    timepoint=item.timepoint,
                    year=item.year or 0,
                    status_since=today,
                    **values,
                )
            )
            continue
        if all(getattr(row, k) == v for k, v in values.items()):
            result.unchanged += 1
            continue
        if row.status != item.status:
            row.status_since = today
        for k, v in values.items():
            setattr(row, k, v)
        changed.append(row)
    stale = [row.pk for key, row in existing.items() if key not in seen]
    insert_new(FollowUpStatus, fresh)  # COPY on PostgreSQL (derived data: no audit entries)
    _update(changed, [*STATUS_FIELDS, "status_since"])
    for start in range(0, len(stale), 1000):
        FollowUpStatus.objects.filter(pk__in=stale[start : start + 1000]).delete()
    result.created += len(fresh)
    result.changed += len(changed)
    result.removed += len(stale)
    return len({item.procedure_id for item in items})


def _update(rows: list[FollowUpStatus], names: list[str]) -> None:
    """UPDATE each row's fields: one statement run for every row (psycopg pipelines it). Django's
    bulk_update builds a CASE expression per row and field, seconds a batch after a schedule change."""
    if not rows:
        return
    meta = FollowUpStatus._meta
    fields = [meta.get_field(name.removesuffix("_id")) for name in names]
    quote = connection.ops.quote_name
    statement = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} "
        f"WHERE {quote(meta.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            statement,
            [
                [*(f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields), row.pk]
                for row in rows
            ],
        )


def score_pending(*, batch_size: int | None = None, progress: ProgressFn | None = None) -> ScoringResult:
    """Score PROM administrations that have no derived scores yet (e.g. entered on paper, or loaded)."""
    from pdva.proms.services.batch_scoring import BATCH_SIZE, score_unscored

    return score_unscored(
        reason="PROM scores derived by the follow-up run",
        batch_size=batch_size or BATCH_SIZE,
        progress=progress,
    )


def run(
    today: dt.date | None = None,
    *,
    send_digests: bool = True,
    now: dt.datetime | None = None,
    progress_for: Callable[[str], ProgressFn] | None = None,
) -> FollowUpRun:
    """One run (call inside an audit context, e.g. label 'system:followup').

    ``progress_for(label)`` gives a (done, total) callback for each long step (e.g. core.progress.Progress).
    """
    from pdva.followup.services.digest import send_weekly_digests
    from pdva.proms.services.links import send_due_reminders

    now = now or timezone.now()
    today = today or timezone.localdate(now)
    schedule = current_schedule()
    log = FollowUpRun.objects.create(started_at=now, run_date=today, schedule_version=schedule.version)
    try:
        refreshed = refresh_statuses(
            today, schedule=schedule, progress=progress_for("follow-up statuses") if progress_for else None
        )
        log.created, log.changed = refreshed.created, refreshed.changed
        log.removed, log.unchanged = refreshed.removed, refreshed.unchanged
        score_pending(progress=progress_for("PROM scoring") if progress_for else None)
        log.reminders_sent = send_due_reminders(now)["sent"]
        if send_digests:
            outcome = Counter(d.status for d in send_weekly_digests(today, run=log, now=now))
            log.digests_sent, log.digests_failed = outcome["sent"], outcome["failed"]
    except Exception as exc:
        log.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        log.finished_at = timezone.now()
        log.save()
    return log
