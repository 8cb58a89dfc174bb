"""Running one job, whichever backend hands it over (a procrastinate worker, the in-process runner, a test).

A run: claim the job (state running, one more attempt), check again that the requester may run it (roles
change), run its kind inside an audit context naming the requester (or a system label), then complete it
in one transaction: the result file moved into place, the job marked done and the audit entries the kind
asked for written together. A completion is refused when another attempt has taken the job over since
(a worker presumed dead that was only slow), so a job completes once.

A failure that may pass (mail server down, database connection lost) puts the job back in the queue with
exponential backoff, until ``max_attempts``; any other failure fails it with a message for the requester,
never a traceback (that goes to the server log with the job id).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.core.mail import is_transient as is_transient_mail_error
from pdva.jobs import registry
from pdva.jobs.lib.backoff import retry_delay
from pdva.jobs.lib.redact import redact, unexpected_error
from pdva.jobs.models import Job

log = logging.getLogger("pdva.jobs")

INPUT_DIR = "input"


def this_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def jobs_dir() -> Path:
    return Path(settings.PDVA_JOBS_DIR)


def job_dir(job_id: int) -> Path:
    return jobs_dir() / str(job_id)


def private_dir(path: Path) -> Path:
    """Create ``path`` readable by this user only, as every folder between it and PDVA_JOBS_DIR: results
    and uploads may hold identifiers."""
    root = jobs_dir()
    chain = [path, *[p for p in path.parents if p == root or root in p.parents]]
    for folder in reversed(chain):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
    return path


# --- the context a kind's run() receives ----------------------------------------------------------------


@dataclass
class _Deferred:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class JobContext:
    job: Job
    user: Any
    attempt: int
    summary: dict[str, Any] = field(default_factory=dict)
    _result: tuple[Path, str, str] | None = None  # staged file, name, content type
    _records: list[_Deferred] = field(default_factory=list)

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params

    @property
    def staging_dir(self) -> Path:
        return private_dir(job_dir(self.job.pk) / f".attempt-{self.attempt}")

    def result_file(self, name: str, content_type: str) -> Path:
        """A path to write the result to (for writers that take a path); it becomes the job's download."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"result file name {name!r} must be a plain file name")
        path = self.staging_dir / name
        self._result = (path, name, content_type)
        return path

    def write_result(self, name: str, data: bytes, content_type: str) -> None:
        path = self.result_file(name, content_type)
        path.write_bytes(data)
        path.chmod(0o600)

    def input_path(self, name: str) -> Path:
        return job_dir(self.job.pk) / INPUT_DIR / name

    def input_text(self, name: str) -> str:
        path = self.input_path(name)
        if not path.exists():
            raise registry.JobError("The uploaded file is no longer available: please upload it again.")
        return path.read_text(encoding="utf-8")

    def record_on_success(self, *args: Any, **kwargs: Any) -> None:
        """An audit entry (``pdva.audit.models.record`` arguments) written with the job's completion."""
        self._records.append(_Deferred(args, kwargs))


# --- outcomes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    state: str  # Job state after this attempt, or "superseded" (another attempt owns the job)
    retry_in: float | None = None  # seconds, when the job went back to the queue


SUPERSEDED = "superseded"


class _Superseded(Exception):
    pass


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, registry.Transient):
        return True
    if isinstance(exc, OperationalError | InterfaceError):  # connection lost, database locked or restarting
        return True
    return is_transient_mail_error(exc)


def _transient_reason(exc: BaseException) -> str:
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    if isinstance(root, DatabaseError):
        return f"the database was not available ({type(root).__name__})"
    if isinstance(exc, registry.Transient):
        return redact(str(exc)) + (f" ({type(root).__name__})" if root is not exc else "")
    return f"the mail server could not take the message for now ({type(root).__name__})"


# --- claiming --------------------------------------------------------------------------------------------


def claim(job_id: int, *, take_over_running: bool = False) -> Job | None:
    """Mark the job running for one more attempt; None if it is not waiting (done, failed, or running
    elsewhere). ``take_over_running``: the queue has established that the previous runner is gone."""
    states = [Job.QUEUED, Job.RUNNING] if take_over_running else [Job.QUEUED]
    claimed = Job.objects.filter(pk=job_id, state__in=states).update(
        state=Job.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now(), runner=this_runner()
    )
    return Job.objects.select_related("requested_by").get(pk=job_id) if claimed else None


def _guarded(job: Job) -> Any:
    """The job's row, only while this attempt still owns it."""
    return Job.objects.filter(pk=job.pk, state=Job.RUNNING, attempts=job.attempts)


@contextlib.contextmanager
def _actor(kind: registry.JobKind, user: Any) -> Iterator[None]:
    if kind.system or user is None:
        with audit_context(label=kind.system_label, reason=kind.label):
            yield
    else:
        with audit_context(user):
            yield


def _ensure_usable_connection() -> None:
    # After "connection lost" Django keeps the broken connection until told otherwise.
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _complete(ctx: JobContext) -> None:
    from pdva.audit.models import record

    job = ctx.job
    now = timezone.now()
    fields: dict[str, Any] = {"state": Job.SUCCEEDED, "finished_at": now, "error": "", "result": ctx.summary}
    with transaction.atomic():
        if not _guarded(job).exists():
            raise _Superseded
        if ctx._result is not None:
            staged, name, content_type = ctx._result
            final = job_dir(job.pk) / name
            digest = hashlib.sha256()
            with staged.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
            os.replace(staged, final)
            fields.update(
                result_name=name,
                result_path=f"{job.pk}/{name}",
                result_size=final.stat().st_size,
                result_content_type=content_type,
                result_sha256=digest.hexdigest(),
            )
        if _guarded(job).update(**fields) != 1:
            raise _Superseded
        for deferred in ctx._records:
            record(*deferred.args, **deferred.kwargs)


def _fail(job: Job, message: str, details: list[dict[str, Any]] | None = None) -> Outcome:
    _ensure_usable_connection()
    result = {"errors": details} if details else {}
    _guarded(job).update(state=Job.FAILED, error=message, finished_at=timezone.now(), result=result)
    return Outcome(Job.FAILED)


def _retry(job: Job, exc: BaseException) -> Outcome:
    _ensure_usable_connection()
    delay = retry_delay(job.attempts, base_seconds=settings.PDVA_JOBS_RETRY_SECONDS)
    run_after = timezone.now() + dt.timedelta(seconds=delay)
    message = (
        f"Attempt {job.attempts} of {job.max_attempts} did not succeed: {_transient_reason(exc)}. "
        f"It will be tried again from {timezone.localtime(run_after):%H:%M:%S} (UK time)."
    )
    _guarded(job).update(state=Job.QUEUED, run_after=run_after, error=message)
    return Outcome(Job.QUEUED, retry_in=delay)


def _clean_files(job: Job, *, final: bool) -> None:
    folder = job_dir(job.pk)
    for staging in folder.glob(".attempt-*"):
        shutil.rmtree(staging, ignore_errors=True)
    if final:  # an uploaded file is kept only while the job may still need it
        shutil.rmtree(folder / INPUT_DIR, ignore_errors=True)


# --- running ---------------------------------------------------------------------------------------------


def execute(job_id: int, *, take_over_running: bool = False) -> Outcome:
    """Claim and run one job. Returns what became of it; never raises for the job's own failures."""
    job = claim(job_id, take_over_running=take_over_running)
    if job is None:
        state = Job.objects.filter(pk=job_id).values_list("state", flat=True).first()
        return Outcome(state or SUPERSEDED)
    return run_claimed(job)


def run_claimed(job: Job) -> Outcome:
    outcome = Outcome(Job.FAILED)
    try:
        outcome = _run(job)
    except _Superseded:
        log.warning(
            "job %s: attempt %s was superseded by a later attempt; its result is dropped",
            job.pk,
            job.attempts,
        )
        outcome = Outcome(SUPERSEDED)
    finally:
        _clean_files(job, final=outcome.state != Job.QUEUED)
    return outcome


def _run(job: Job) -> Outcome:
    try:
        kind = registry.get(job.kind)
    except KeyError:
        return _fail(job, f"This kind of job ({job.kind}) is no longer offered.")
    if job.attempts > job.max_attempts:
        return _fail(
            job,
            f"The job was interrupted {job.max_attempts} times (the worker running it stopped); it will not "
            "be tried again. Please ask for it again, or tell your system administrator if this repeats.",
        )
    user = job.requested_by
    try:
        with _actor(kind, user):
            if kind.authorize is not None:
                if user is None or not user.is_active:
                    raise registry.JobRefused("The account that asked for this job is no longer active.")
                kind.authorize(user, job.params)
            ctx = JobContext(job=job, user=user, attempt=job.attempts)
            if kind.atomic:
                with transaction.atomic():
                    kind.run(ctx)
                    _complete(ctx)
            else:
                kind.run(ctx)
                _complete(ctx)
        log.info("job %s %s succeeded (attempt %s)", job.pk, job.kind, job.attempts)
        return Outcome(Job.SUCCEEDED)
    except _Superseded:
        raise
    except registry.JobRefused as exc:
        return _fail(job, redact(str(exc)) or "You may no longer run this job.")
    except registry.JobError as exc:
        return _fail(
            job, redact(str(exc)), [{**d, "message": redact(str(d.get("message", "")))} for d in exc.details]
        )
    except Exception as exc:
        if is_transient(exc) and job.attempts < job.max_attempts:
            log.warning(
                "job %s %s attempt %s failed (%s); retrying",
                job.pk,
                job.kind,
                job.attempts,
                type(exc).__name__,
            )
            return _retry(job, exc)
        log.exception("job %s %s failed on attempt %s", job.pk, job.kind, job.attempts)
        if is_transient(exc):
            message = (
                f"The job did not succeed after {job.attempts} attempts: {_transient_reason(exc)}. "
                "Please try again later, or tell your system administrator."
            )
        else:
            message = unexpected_error(type(exc).__name__, job.pk)
        return _fail(job, message)


# --- the local runner: SQLite demo (in-process thread) and `pdva worker` without procrastinate -----------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def requeue_orphans() -> int:
    """Jobs left running by a process of this machine that has died go back to the queue."""
    host = socket.gethostname()
    count = 0
    for job_id, runner in Job.objects.filter(state=Job.RUNNING, runner__startswith=f"{host}:").values_list(
        "pk", "runner"
    ):
        pid = runner.rsplit(":", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            count += Job.objects.filter(pk=job_id, state=Job.RUNNING, runner=runner).update(state=Job.QUEUED)
    return count


def claim_next() -> Job | None:
    now = timezone.now()
    due = (
        Job.objects.filter(state=Job.QUEUED)
        .filter(Q(run_after__isnull=True) | Q(run_after__lte=now))
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )
    for job_id in due[:20]:
        job = claim(job_id)
        if job is not None:
            return job
    return None


def next_due_in() -> float | None:
    """Seconds until the earliest queued job may run (0 if one may run now); None if nothing is queued."""
    first = Job.objects.filter(state=Job.QUEUED).order_by("run_after").values_list("run_after", flat=True)
    if not first.exists():
        return None
    soonest = first.first()
    if soonest is None or Job.objects.filter(state=Job.QUEUED, run_after__isnull=True).exists():
        return 0.0
    return max(0.0, (soonest - timezone.now()).total_seconds())


def run_due_jobs(limit: int | None = None) -> int:
    """Run queued jobs that are due, oldest first, until none is left; returns how many ran."""
    requeue_orphans()
    count = 0
    while limit is None or count < limit:
        job = claim_next()
        if job is None:
            break
        run_claimed(job)
        count += 1
    return count


class InProcessRunner:
    """One background thread per process that drains the queue after each commit that added a job.

    The job rows are the queue, so nothing is lost when the process stops: a job it was running is taken
    back by the next runner on this machine (its process id is gone), and queued jobs wait for the next
    enqueue or for `pdva worker`. The thread ends after IDLE_SECONDS without work.
    """

    IDLE_SECONDS = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        with self._lock:
            self._wake.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="pdva-jobs", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        from django.db import close_old_connections

        try:
            while True:
                self._wake.clear()
                try:
                    run_due_jobs()
                    wait = next_due_in()
                except Exception:  # the thread must survive a bad moment (database locked, restarting)
                    log.exception("in-process job runner")
                    wait = 5.0
                finally:
                    close_old_connections()
                woken = self._wake.wait(self.IDLE_SECONDS if wait is None else min(wait, self.IDLE_SECONDS))
                with self._lock:
                    if not woken and wait is None and not self._wake.is_set():
                        self._thread = None
                        return
        finally:
            connection.close()


in_process = InProcessRunner()
