"""``pdva followup run``: refresh every time point's status, score new PROMs, send reminders and the weekly
digests. Idempotent: a second run on the same day changes nothing and sends nothing new."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from pdva.followup.lib.schedule import Schedule
from pdva.followup.models import FollowUpRun, FollowUpStatus
from pdva.followup.services.items import current_schedule, followup_items

Key = tuple[int, str, int]


@dataclass
class RefreshResult:
    created: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0


def refresh_statuses(today: dt.date, *, schedule: Schedule | None = None) -> RefreshResult:
    """Bring FollowUpStatus in line with the schedule and the registry on ``today``."""
    schedule = schedule or current_schedule()
    result = RefreshResult()
    existing: dict[Key, FollowUpStatus] = {
        (s.procedure_id, s.timepoint, s.year): s for s in FollowUpStatus.objects.all()
    }
    fresh, changed = [], []
    seen: set[Key] = set()
    for item in followup_items(None, today, schedule=schedule):
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
    with transaction.atomic():
        FollowUpStatus.objects.bulk_create(fresh, batch_size=1000)
        FollowUpStatus.objects.bulk_update(
            changed,
            [
                "site_id",
                "schedule_version",
                "status",
                "window_start",
                "due_date",
                "window_end",
                "visit_date",
                "status_since",
            ],
            batch_size=1000,
        )
        for start in range(0, len(stale), 1000):
            FollowUpStatus.objects.filter(pk__in=stale[start : start + 1000]).delete()
    result.created, result.changed, result.removed = len(fresh), len(changed), len(stale)
    return result


def score_pending() -> int:
    """Score PROM administrations that have no derived scores yet (e.g. entered on paper)."""
    from pdva.proms.services.scoring import score_administration
    from pdva.registry.models import PromAdministration

    pending = (
        PromAdministration.objects.alive()
        .filter(completion_status__in=["complete", "partial"], scores__isnull=True)
        .select_related("patient__identity")
    )
    count = 0
    for adm in pending:
        score_administration(adm, reason="PROM scores derived by the follow-up run")
        count += 1
    return count


def run(
    today: dt.date | None = None, *, send_digests: bool = True, now: dt.datetime | None = None
) -> FollowUpRun:
    """One run (call inside an audit context, e.g. label 'system:followup')."""
    from pdva.followup.services.digest import send_weekly_digests
    from pdva.proms.services.links import send_due_reminders

    now = now or timezone.now()
    today = today or timezone.localdate(now)
    schedule = current_schedule()
    log = FollowUpRun.objects.create(started_at=now, run_date=today, schedule_version=schedule.version)
    try:
        refreshed = refresh_statuses(today, schedule=schedule)
        log.created, log.changed = refreshed.created, refreshed.changed
        log.removed, log.unchanged = refreshed.removed, refreshed.unchanged
        score_pending()
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
