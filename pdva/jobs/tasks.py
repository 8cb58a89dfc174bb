"""procrastinate on PostgreSQL: the tasks that run our Job records, the schedule, and the worker.

Only three procrastinate tasks exist: ``pdva:run_job`` (one Job), ``pdva:run_periodic`` (one period of a
scheduled kind) and ``pdva:retry_stalled`` (puts back jobs whose worker stopped sending heartbeats, e.g.
killed with SIGKILL). Retry timing is decided by our runner (pdva.jobs.runner) and handed to procrastinate
through RetryLater, so both backends retry alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any

import procrastinate
from django.conf import settings
from procrastinate import periodic as procrastinate_periodic
from procrastinate import retry as procrastinate_retry

from pdva.jobs import runner, schedule
from pdva.jobs.models import Job

log = logging.getLogger("pdva.jobs")
NAMESPACE = "pdva"

blueprint = procrastinate.Blueprint()


class RetryLater(Exception):
    """Raised to procrastinate when our runner put the job back in the queue: retry after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry in {seconds:.0f} s")
        self.seconds = seconds


class JobFailed(Exception):
    """Raised to procrastinate when the Job failed for good, so its own record says failed too."""


class FollowRunnerDecision(procrastinate_retry.BaseRetryStrategy):
    """Retry exactly when our runner asked for it, after the delay it chose."""

    def get_retry_decision(
        self, *, exception: BaseException, job: Any
    ) -> procrastinate_retry.RetryDecision | None:
        if isinstance(exception, RetryLater):
            return procrastinate_retry.RetryDecision(retry_in={"seconds": int(round(exception.seconds))})
        return None


def _report(job_id: int, outcome: runner.Outcome) -> None:
    if outcome.state == Job.QUEUED and outcome.retry_in is not None:
        raise RetryLater(outcome.retry_in)
    if outcome.state == Job.FAILED:
        raise JobFailed(f"job {job_id} failed (see its record)")


@blueprint.task(name="run_job", retry=FollowRunnerDecision())
def run_job(job_id: int) -> None:
    # procrastinate hands a job to one worker at a time; a Job still "running" here was left so by a worker
    # that stopped (the stalled-job retry put it back), so this attempt may take it over.
    _report(job_id, runner.execute(job_id, take_over_running=True))


@blueprint.task(name="run_periodic", retry=FollowRunnerDecision())
def run_periodic(timestamp: int, kind: str) -> None:
    from pdva.jobs.services import periodic_job

    job, _ = periodic_job(kind, timestamp)
    _report(job.pk, runner.execute(job.pk, take_over_running=True))


def _register_schedule() -> None:
    for periodic in schedule.entries():
        blueprint.periodic(
            cron=periodic.cron, periodic_id=periodic.kind, task_kwargs={"kind": periodic.kind}
        )(run_periodic)


@blueprint.task(name="retry_stalled", queueing_lock="pdva-retry-stalled", pass_context=True)
async def retry_stalled(context: Any, timestamp: int) -> None:
    """Jobs whose worker has sent no heartbeat for PDVA_JOBS_STALLED_SECONDS go back to the queue."""
    manager = context.app.job_manager
    for stalled in await manager.get_stalled_jobs(seconds_since_heartbeat=settings.PDVA_JOBS_STALLED_SECONDS):
        log.warning("job %s (%s): its worker stopped; retrying", stalled.id, stalled.task_name)
        await manager.retry_job(stalled)


def _register_sweeper() -> None:
    blueprint.periodic(cron=settings.PDVA_JOBS_SWEEP_CRON, periodic_id="sweep")(retry_stalled)


_register_schedule()
_register_sweeper()


def on_app_ready(app: procrastinate.App) -> None:
    """settings.PROCRASTINATE_ON_APP_READY: add our tasks to procrastinate's Django app."""
    app.add_tasks_from(blueprint, namespace=NAMESPACE)


def _app() -> procrastinate.App:
    from procrastinate.contrib.django import app

    return app


def defer_job(job: Job, *, queue: str, schedule_at: dt.datetime | None = None) -> int:
    """Defer ``pdva:run_job`` for this Job through Django's connection: in the caller's transaction, so the
    Job row and its queue entry commit together (or not at all). ``schedule_at``: not before then."""
    task = _app().configure_task(f"{NAMESPACE}:run_job", queue=queue, schedule_at=schedule_at)
    return task.defer(job_id=job.pk)


def queue_status() -> tuple[int, int]:
    """(jobs waiting, workers with a recent heartbeat), read through Django's connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
        todo = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > NOW() - make_interval(secs => %s)",
            [settings.PDVA_JOBS_STALLED_SECONDS],
        )
        workers = cursor.fetchone()[0]
    return int(todo), int(workers)


@contextlib.contextmanager
def _worker_app(periodic: bool) -> Iterator[procrastinate.App]:
    """procrastinate's app on a worker connection (psycopg pool, LISTEN/NOTIFY), optionally without the
    schedule (an --until-idle run defers the due periods itself, before it starts)."""
    app = _app()
    saved = app.periodic_registry
    if not periodic:
        app.periodic_registry = procrastinate_periodic.PeriodicRegistry()
    try:
        with app.replace_connector(app.connector.get_worker_connector()) as worker_app:  # type: ignore[attr-defined]
            yield worker_app
    finally:
        app.periodic_registry = saved


def _worker_options(until_idle: bool, concurrency: int, install_signal_handlers: bool) -> dict[str, Any]:
    stalled = float(settings.PDVA_JOBS_STALLED_SECONDS)
    return {
        "wait": not until_idle,
        "concurrency": concurrency,
        "install_signal_handlers": install_signal_handlers,
        "listen_notify": not until_idle,
        "update_heartbeat_interval": max(1.0, stalled / 3),
        "stalled_worker_timeout": stalled,
        "fetch_job_polling_interval": 2.0,
        "name": f"pdva-{runner.this_runner()}",
    }


async def _defer_due_periodic(registry: procrastinate_periodic.PeriodicRegistry) -> None:
    """What a worker's periodic deferrer does when it starts, once: the latest period of each scheduled
    task, unless more than 10 minutes late (the database refuses a second defer of the same period)."""
    deferrer = procrastinate_periodic.PeriodicDeferrer(registry=registry)
    await deferrer.defer_jobs(jobs_to_defer=deferrer.get_previous_tasks(at=time.time()))


def run_worker(
    *,
    until_idle: bool = False,
    periodic: bool = True,
    concurrency: int = 1,
    install_signal_handlers: bool = False,
) -> None:
    """Run a procrastinate worker in this process (`pdva worker`): forever, or until the queue is empty."""
    options = _worker_options(until_idle, concurrency, install_signal_handlers)

    registry = _app().periodic_registry

    async def main() -> None:
        with _worker_app(periodic=periodic and not until_idle) as app:
            async with app.open_async():
                if until_idle and periodic:
                    await _defer_due_periodic(registry)
                await app.run_worker_async(**options)

    asyncio.run(main())
