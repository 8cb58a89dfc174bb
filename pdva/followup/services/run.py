"""``pdva followup run``: refresh every time point's status, score new PROMs, send reminders and the weekly
digests. Idempotent: a second run on the same day changes nothing and sends nothing new."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from pdva.followup.lib.schedule import Schedule
from pdva.followup.models import FollowUpRun, FollowUpStatus
from pdva.followup.services.items import current_schedule, followed_procedures, followup_items

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

    Streamed by index procedure id, one transaction per batch, so memory is bounded by the batch: the
    batches' id ranges meet end to end, so every stored status (also of a procedure since removed) falls
    in exactly one of them, or after the last, where nothing is followed up any more.
    """
    schedule = schedule or current_schedule()
    result = RefreshResult()
    followed = followed_procedures()
    total = followed.count()
    if progress:
        progress(0, total)
    done, last_pk = 0, 0
    while True:
        ids = list(followed.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            _refresh_range(today, schedule, after_pk=last_pk, upto_pk=ids[-1], result=result)
        last_pk = ids[-1]
        done += len(ids)
        if progress:
            progress(min(done, total), total)
    with transaction.atomic():
        result.removed += FollowUpStatus.objects.filter(procedure_id__gt=last_pk).delete()[0]
    if progress and done < total:
        progress(done, done)
    return result


def _refresh_range(
    today: dt.date, schedule: Schedule, *, after_pk: int, upto_pk: int, result: RefreshResult
) -> None:
    """Refresh the statuses of the index procedures with ids in (after_pk, upto_pk]."""
    existing: dict[Key, FollowUpStatus] = {
        (s.procedure_id, s.timepoint, s.year): s
        for s in FollowUpStatus.objects.filter(procedure_id__gt=after_pk, procedure_id__lte=upto_pk)
    }
    fresh, changed = [], []
    seen: set[Key] = set()
    for item in followup_items(None, today, schedule=schedule, pk_range=(after_pk + 1, upto_pk)):
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
    FollowUpStatus.objects.bulk_create(fresh, batch_size=1000)
    FollowUpStatus.objects.bulk_update(changed, [*STATUS_FIELDS, "status_since"], batch_size=1000)
    for start in range(0, len(stale), 1000):
        FollowUpStatus.objects.filter(pk__in=stale[start : start + 1000]).delete()
    result.created += len(fresh)
    result.changed += len(changed)
    result.removed += len(stale)


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
