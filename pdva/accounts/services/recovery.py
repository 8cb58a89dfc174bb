"""Ten single-use recovery codes per user, shown once, kept only as keyed digests."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from pdva.accounts.models import RecoveryCode, RecoveryCodeSet, code_digest
from pdva.audit.models import record

CODES_PER_SET = 10


def _new_code() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))  # about 79 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def looks_like_recovery_code(token: str) -> bool:
    return len("".join(ch for ch in token if ch.isalnum())) == 16


def generate(user: Any) -> list[str]:
    """A new set of codes (any earlier set stops working); the plaintext is returned once."""
    codes = [_new_code() for _ in range(CODES_PER_SET)]
    now = timezone.now()
    with transaction.atomic():
        voided = 0
        for earlier in RecoveryCodeSet.objects.filter(user=user, voided_at__isnull=True):
            earlier.voided_at = now
            earlier.save(reason="replaced by a new set of recovery codes")
            voided += 1
        code_set = RecoveryCodeSet(user=user, created_at=now)
        code_set.save(reason="recovery codes generated")
        RecoveryCode.objects.audited_bulk_create(
            [RecoveryCode(code_set=code_set, code_hash=code_digest(c)) for c in codes],
            reason="recovery codes generated",
        )
        record(
            "accounts.recovery_codes.generated",
            object_type="auth.user",
            object_id=user.pk,
            after={"codes": CODES_PER_SET, "earlier_sets_voided": voided},
        )
    return codes


def remaining(user: Any) -> int:
    return RecoveryCode.objects.filter(
        code_set__user=user, code_set__voided_at__isnull=True, used_at__isnull=True
    ).count()


def use(user: Any, raw: str) -> bool:
    """Spend one code; True if it was a valid unused code of this user's current set."""
    with transaction.atomic():
        code = (
            RecoveryCode.objects.select_for_update()
            .filter(
                code_set__user=user,
                code_set__voided_at__isnull=True,
                used_at__isnull=True,
                code_hash=code_digest(raw),
            )
            .first()
        )
        if code is None:
            return False
        code.used_at = timezone.now()
        code.save(reason="recovery code used to sign in")
        record(
            "accounts.recovery_code.used",
            object_type="auth.user",
            object_id=user.pk,
            after={"codes_left": remaining(user)},
        )
    return True
