"""Scheduled jobs: each period runs once whoever starts it; `pdva jobs schedule` lists them."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection

from pdva.followup.models import FollowUpRun
from pdva.jobs import runner, schedule, services
from pdva.jobs.models import Job
from tests.jobs.conftest import TRANSACTIONAL


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_what_is_due_is_the_latest_period_if_at_most_ten_minutes_late():
    due = schedule.due(at("2026-03-02T01:35:00"))
    assert [(p.kind, schedule.as_datetime(t).isoformat()) for p, t in due] == [
        ("followup.daily_run", "2026-03-02T01:30:00+00:00")
    ]
    assert schedule.due(at("2026-03-02T01:41:00")) == []  # missed by more than 10 minutes: next period
    quarter = schedule.due(at("2026-04-15T06:01:00"))
    assert [p.kind for p, _ in quarter] == ["reports.quarterly"]


def test_cron_overrides_come_from_settings_and_unknown_kinds_are_refused(settings):
    settings.PDVA_JOBS_CRON = {"jobs.cleanup": "*/5 * * * *"}
    assert {p.kind: p.cron for p in schedule.entries()}["jobs.cleanup"] == "*/5 * * * *"
    settings.PDVA_JOBS_CRON = {"jobs.nothing": "* * * * *"}
    with pytest.raises(ValueError, match="unknown scheduled job"):
        schedule.entries()


@pytest.mark.django_db
def test_a_period_is_queued_once_however_often_the_scheduler_looks(worker_mode):
    now = at("2026-03-02T07:02:00")
    first = services.queue_due_periodic(now)
    assert [j.kind for j in first] == ["followup.digests"]
    assert services.queue_due_periodic(now + 60) == []  # a second worker, or the next minute
    assert Job.objects.get().dedupe_key == f"followup.digests@{int(at('2026-03-02T07:00:00'))}"


@pytest.mark.django_db
def test_the_daily_run_job_is_the_follow_up_run(worker_mode):
    job, created = services.periodic_job("followup.daily_run", int(at("2026-03-02T01:30:00")))
    assert created and job.requested_by is None
    assert runner.execute(job.pk).state == Job.SUCCEEDED
    run = FollowUpRun.objects.get()
    job.refresh_from_db()
    assert job.result["run_date"] == run.run_date.isoformat() and run.finished_at is not None


@pytest.mark.django_db
def test_cleanup_removes_expired_result_files_and_keeps_the_record(worker_mode, settings):
    job = services.enqueue("jobs.probe", seconds=0)
    services.run_until_idle()
    job.refresh_from_db()
    path = services.result_file(job)
    assert path.exists()
    Job.objects.filter(pk=job.pk).update(finished_at=job.finished_at - dt.timedelta(hours=25))
    assert services.delete_expired_results() == 1
    job.refresh_from_db()
    assert not path.exists() and job.result_path == "" and job.state == Job.SUCCEEDED


@pytest.mark.django_db
def test_schedule_command_lists_every_scheduled_job(capsys):
    call_command("jobs", "schedule")
    out = capsys.readouterr().out
    for periodic in schedule.entries():
        assert periodic.kind in out and periodic.cron in out
    assert "next 20" in out


@TRANSACTIONAL
def test_two_procrastinate_workers_defer_a_period_once(queue_mode):
    """What each worker's periodic deferrer does at start, by two at the same moment: the database's unique
    (task, periodic id, timestamp) lock lets one job through per period."""
    from pdva.jobs import tasks

    registry = tasks._app().periodic_registry

    async def two_workers() -> None:
        with tasks._worker_app(periodic=True) as app:
            async with app.open_async():
                await asyncio.gather(tasks._defer_due_periodic(registry), tasks._defer_due_periodic(registry))

    asyncio.run(two_workers())
    asyncio.run(two_workers())  # and again later in the same period
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, args->>'timestamp', count(*) FROM procrastinate_jobs "
            "GROUP BY task_name, args->>'timestamp', args->>'kind'"
        )
        counts = cursor.fetchall()
    assert counts and all(n == 1 for _, _, n in counts), counts
    assert "pdva:retry_stalled" in {name for name, _, _ in counts}  # the every-minute sweep is due now
