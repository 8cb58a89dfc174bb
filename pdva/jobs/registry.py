"""The kinds of background job: what each one runs, who may ask for it, and how it is retried.

A kind is registered once (``register(JobKind(...))``) from ``pdva/jobs/kinds/`` or from an app's own
``jobs.py`` module (imported when the app registry is ready). The same kind runs the same way whichever
backend runs it (procrastinate on PostgreSQL, the in-process runner on the SQLite demo).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdva.jobs.models import Job
    from pdva.jobs.runner import JobContext


class JobRefused(PermissionError):
    """The requester may not run this job (asked at enqueue and again when it runs). Never retried."""


class JobError(RuntimeError):
    """The job cannot succeed as asked (bad input, nothing to send to). The message is shown as is."""

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []  # e.g. [{"line": 3, "message": "..."}] shown as a table


class Transient(RuntimeError):
    """A failure that may pass (a mail server down): the job is tried again with backoff."""


Authorize = Callable[[Any, dict[str, Any]], int | None]


@dataclass(frozen=True)
class JobKind:
    name: str  # "reports.governance_pdf": app and action
    label: str  # what people read on "Your jobs"
    run: Callable[[JobContext], None]
    # authorize(user, params) -> the site id the job concerns (None: national or several sites); raises
    # JobRefused. Called when the job is asked for and again when it runs, with the user's current roles.
    # None: a system job (scheduled, or started from the command line), never asked for from the web.
    authorize: Authorize | None = None
    system_label: str = "system:jobs"  # audit actor label of a system job
    max_attempts: int | None = None  # None: settings.PDVA_JOBS_MAX_ATTEMPTS
    # True: the job's writes and its completion commit in one transaction (imports: a retry after a crash
    # never imports twice). False for long read-only work (PDFs, exports), which would otherwise hold the
    # SQLite write lock for its whole run.
    atomic: bool = False
    queue: str = "default"
    result_link: Callable[[Job], tuple[str, str] | None] = field(default=lambda job: None)

    @property
    def system(self) -> bool:
        return self.authorize is None


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    existing = _KINDS.get(kind.name)
    if existing is not None and existing is not kind:
        raise ValueError(f"job kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown job kind {name!r}; known: {', '.join(sorted(_KINDS))}") from None


def all_kinds() -> list[JobKind]:
    return [_KINDS[name] for name in sorted(_KINDS)]
