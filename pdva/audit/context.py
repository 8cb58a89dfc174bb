"""Who is acting and why: carried in a context variable so every audited write can find it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditActor:
    user_id: int | None
    label: str
    reason: str = ""  # default reason for every write in this context (e.g. "synthetic cohort seed")


_current: ContextVar[AuditActor | None] = ContextVar("pdva_audit_actor", default=None)


class AuditContextMissing(RuntimeError):
    """A clinical write was attempted without saying who made it."""


def current_actor() -> AuditActor:
    actor = _current.get()
    if actor is None:
        raise AuditContextMissing(
            "clinical data can only be written inside audit_context(...) (who is making this change?)"
        )
    return actor


def peek_actor() -> AuditActor | None:
    return _current.get()


@contextmanager
def audit_context(user=None, *, label: str | None = None, reason: str = "") -> Iterator[AuditActor]:  # type: ignore[no-untyped-def]
    if user is not None and getattr(user, "is_authenticated", False):
        actor = AuditActor(user_id=user.pk, label=label or user.get_username(), reason=reason)
    elif label:
        actor = AuditActor(user_id=None, label=label, reason=reason)
    else:
        raise AuditContextMissing(
            "audit_context needs an authenticated user or a label such as 'system:seed'"
        )
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
