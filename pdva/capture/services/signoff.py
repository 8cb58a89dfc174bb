"""Signing a completed case (which locks it) and unlocking it (which voids the signature)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from pdva.audit.models import record
from pdva.capture.models import CaseSignOff, DataQuery, QueryStatus, SignOffAction
from pdva.capture.services.completeness import case_missing
from pdva.registry import models as m


def sign_off_blockers(procedure: m.Procedure) -> list[str]:
    """Why the case cannot be signed yet (empty when it can)."""
    problems = []
    if procedure.locked_at:
        problems.append("The case is already signed and locked.")
    if not hasattr(procedure, "baseline") or procedure.baseline.is_deleted:
        problems.append("Selection and baseline has not been recorded.")
    if not hasattr(procedure, "consent") or procedure.consent.is_deleted:
        problems.append("The consent and governance checklist has not been recorded.")
    for title, missing in case_missing(procedure):
        problems.append(f"{title}: missing {', '.join(label for _, label in missing)}.")
    open_queries = (
        DataQuery.objects.alive().filter(procedure=procedure).exclude(status=QueryStatus.CLOSED).count()
    )
    if open_queries:
        problems.append(f"{open_queries} data quer{'y is' if open_queries == 1 else 'ies are'} still open.")
    return problems


def sign_off(procedure: m.Procedure, user: Any, *, method: str) -> CaseSignOff:
    blockers = sign_off_blockers(procedure)
    if blockers:
        raise ValueError(" ".join(blockers))
    now = timezone.now()
    with transaction.atomic():
        procedure.signed_off_at = now
        procedure.signed_off_by = user
        procedure.locked_at = now
        procedure.save(reason=f"case signed off and locked (re-authenticated with {method})")
        entry = CaseSignOff(
            procedure=procedure, action=SignOffAction.SIGNED, user=user, at=now, reauthenticated_with=method
        )
        entry.save()
        record(
            "capture.case.signed",
            procedure,
            after={"signed_off_at": now, "method": method},
            reason="case signed off",
        )
    return entry


def unlock(procedure: m.Procedure, user: Any, *, reason: str, method: str) -> CaseSignOff:
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required to unlock a case")
    if not procedure.locked_at:
        raise ValueError("the case is not locked")
    now = timezone.now()
    with transaction.atomic():
        voided = {"signed_off_at": procedure.signed_off_at, "signed_off_by": procedure.signed_off_by_id}
        procedure.signed_off_at = None
        procedure.signed_off_by = None
        procedure.locked_at = None
        procedure.save(reason=f"unlocked, signature voided: {reason}")
        entry = CaseSignOff(
            procedure=procedure,
            action=SignOffAction.UNLOCKED,
            user=user,
            at=now,
            reauthenticated_with=method,
            reason=reason,
        )
        entry.save()
        record("capture.case.unlocked", procedure, before=voided, after={"locked_at": None}, reason=reason)
    return entry
