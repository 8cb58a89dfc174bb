"""The job API used everywhere: ``enqueue(kind, user=..., **params)`` returns our Job record.

How the job then runs depends on settings.PDVA_JOBS_RUN (see pdva/jobs/__init__.py):

- ``queue``: a procrastinate job is deferred in the same transaction as the Job row (PostgreSQL); any
  number of `pdva worker` processes on any machines run it.
- ``thread``: after the transaction commits, this process's background thread runs it (the SQLite demo:
  one command, no server). `pdva worker` also runs whatever is queued.
- ``worker``: only `pdva worker` runs queued jobs (for example from cron, or a systemd unit).
- ``inline``: run before enqueue() returns (the test suite's default, so pages behave synchronously).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from pdva.jobs import registry, runner, schedule
from pdva.jobs.models import Job
from pdva.jobs.registry import JobRefused

MODES = ("queue", "thread", "worker", "inline")


def run_mode() -> str:
    mode = settings.PDVA_JOBS_RUN
    if mode not in MODES:
        raise ValueError(f"PDVA_JOBS_RUN must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Params are ids and options: JSON scalars (or lists of them), so they can never carry a file's content."""
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
            raise TypeError(f"job parameter {key}={value!r} must be a JSON scalar or a list of them")
        if isinstance(value, str) and len(value) > 200:
            raise ValueError(f"job parameter {key} is too long for a parameter: pass files as inputs")
    json.dumps(params)
    return params


def enqueue(
    kind_name: str,
    *,
    user: Any = None,
    inputs: dict[str, bytes] | None = None,
    dedupe_key: str | None = None,
    run_after: dt.datetime | None = None,
    **params: Any,
) -> Job:
    """Queue one job and return its record. Raises JobRefused when ``user`` may not ask for it (checked
    again when it runs). ``inputs``: files the job reads (e.g. an upload), kept beside it until it is done.
    ``run_after``: not before this time (an inline run then leaves it queued for a worker)."""
    kind = registry.get(kind_name)
    _check_params(params)
    if kind.system:
        if user is not None:
            raise JobRefused(f"{kind.label} is a scheduled job: it is not started for a person")
        site_id = None
    else:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            raise JobRefused("Sign in to ask for this job.")
        site_id = kind.authorize(user, params)  # type: ignore[misc]
    mode = run_mode()
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind.name,
            params=params,
            requested_by=user if not kind.system else None,
            site_id=site_id,
            max_attempts=kind.max_attempts or settings.PDVA_JOBS_MAX_ATTEMPTS,
            dedupe_key=dedupe_key,
            run_after=run_after,
        )
        if inputs:
            folder = runner.private_dir(runner.job_dir(job.pk) / runner.INPUT_DIR)
            for name, data in inputs.items():
                path = folder / name
                path.write_bytes(data)
                path.chmod(0o600)
        if mode == "queue":
            from pdva.jobs.tasks import defer_job

            job.queue_job_id = defer_job(job, queue=kind.queue, schedule_at=run_after)
            job.save(update_fields=["queue_job_id"])
        elif mode == "thread":
            transaction.on_commit(runner.in_process.kick)
    if mode == "inline" and (run_after is None or run_after <= timezone.now()):
        runner.execute(job.pk)
        job.refresh_from_db()
    return job


def periodic_job(kind_name: str, timestamp: int) -> tuple[Job, bool]:
    """The one Job of this scheduled kind for this period (created if needed): (job, created)."""
    key = f"{kind_name}@{timestamp}"
    existing = Job.objects.filter(dedupe_key=key).first()
    if existing is not None:
        return existing, False
    kind = registry.get(kind_name)
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=kind.name,
                params={"period_start": schedule.as_datetime(timestamp).isoformat()},
                max_attempts=kind.max_attempts or settings.PDVA_JOBS_MAX_ATTEMPTS,
                dedupe_key=key,
            )
    except IntegrityError:  # another scheduler made it a moment ago
        return Job.objects.get(dedupe_key=key), False
    return job, True


def queue_due_periodic(now: float | None = None) -> list[Job]:
    """The local scheduler (SQLite, or `pdva worker` without procrastinate): queue each scheduled job whose
    period has started and has no Job yet. Returns the jobs it created."""
    created = []
    for periodic, tick in schedule.due(now):
        job, new = periodic_job(periodic.kind, tick)
        if new:
            created.append(job)
    return created


def run_until_idle(*, periodic: bool = False) -> None:
    """Run what is queued and return (`pdva worker --until-idle`, tests, cron). ``periodic``: first queue
    the scheduled jobs whose period has started (each period once, whoever else is running)."""
    if run_mode() == "queue":
        from pdva.jobs.tasks import run_worker

        run_worker(until_idle=True, periodic=periodic)
        return
    if periodic:
        queue_due_periodic()
    runner.run_due_jobs()


def jobs_for(user: Any) -> QuerySet[Job]:
    """The jobs a person asked for (scheduled jobs have no requester and are not anyone's)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Job.objects.none()
    return Job.objects.filter(requested_by=user)


def downloadable(user: Any, job_id: int) -> Job | None:
    """The job if ``user`` asked for it, it has a result file, and they may still run that kind of job for
    that site (roles change); else None. Fails closed."""
    job = jobs_for(user).filter(pk=job_id, state=Job.SUCCEEDED).exclude(result_path="").first()
    if job is None:
        return None
    try:
        kind = registry.get(job.kind)
    except KeyError:
        return None
    if kind.authorize is None or not user.is_active:
        return None
    try:
        site_id = kind.authorize(user, job.params)
    except (JobRefused, registry.JobError):
        return None
    if site_id != job.site_id:
        return None
    return job


def result_file(job: Job) -> Any:
    """Path of the job's result file (may have expired or been removed)."""
    from pathlib import Path

    root = Path(settings.PDVA_JOBS_DIR).resolve()
    path = (root / job.result_path).resolve()
    if root not in path.parents:  # a tampered row must not reach outside the jobs folder
        raise ValueError(f"job {job.pk} result path is outside PDVA_JOBS_DIR")
    return path


def queue_health() -> tuple[bool, str]:
    """For /health/ready: can jobs be queued and picked up? (ok, one line for people)."""
    try:
        mode = run_mode()
        waiting = Job.objects.filter(state=Job.QUEUED).count()
        if mode != "queue":
            where = "this process's background thread" if mode == "thread" else "`pdva worker`"
            if mode == "inline":
                where = "the request itself"
            return True, f"jobs run by {where} ({connection.vendor}); {waiting} waiting"
        from pdva.jobs.tasks import queue_status

        todo, workers = queue_status()
        return True, f"procrastinate queue reachable; {todo} job(s) waiting, {workers} worker(s) alive"
    except Exception as exc:  # health checks report, never raise
        return False, f"job queue unreachable ({type(exc).__name__})"


def delete_expired_results(now: dt.datetime | None = None) -> int:
    """Remove result files past PDVA_JOBS_RESULT_HOURS; the job keeps its record. Returns files removed."""
    import shutil

    from django.utils import timezone

    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=settings.PDVA_JOBS_RESULT_HOURS)
    removed = 0
    for job in Job.objects.filter(state=Job.SUCCEEDED, finished_at__lt=cutoff).exclude(result_path=""):
        folder = runner.job_dir(job.pk)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        job.result_path = ""
        job.save(update_fields=["result_path"])
    return removed


def wait_for(job: Job, timeout: float = 60.0, poll: float = 0.2) -> Job:
    """Block until the job is done or failed (commands and tests); returns the refreshed record."""
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.state in Job.FINAL_STATES or time.monotonic() >= deadline:
            return job
        time.sleep(poll)
