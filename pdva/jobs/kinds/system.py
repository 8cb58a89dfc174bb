"""The queue's own jobs: result clean-up, and a probe that shows a worker takes and finishes jobs."""

from __future__ import annotations

import os
import socket
import time

from django.utils import timezone

from pdva.jobs.registry import JobKind, register
from pdva.jobs.runner import JobContext


def _cleanup(ctx: JobContext) -> None:
    from pdva.jobs.services import delete_expired_results

    ctx.summary.update(files_removed=delete_expired_results())


register(JobKind("jobs.cleanup", "Remove expired job results", _cleanup, system_label="system:jobs"))


def _probe(ctx: JobContext) -> None:
    """Wait ``seconds`` (in short steps, so a stop signal is seen), then leave a small result file."""
    seconds = float(ctx.params.get("seconds", 0))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    line = f"probe {ctx.job.pk} finished at {timezone.now().isoformat()} by {socket.gethostname()}:{os.getpid()}\n"
    ctx.write_result(f"probe-{ctx.job.pk}.txt", line.encode(), "text/plain")
    ctx.summary.update(pid=os.getpid(), attempt=ctx.attempt)


register(JobKind("jobs.probe", "Queue probe (pdva jobs probe)", _probe, system_label="system:jobs"))
