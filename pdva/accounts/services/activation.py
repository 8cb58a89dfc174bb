"""First authenticator set-up only with a one-time activation code issued to the user (never the password
alone): a leaked initial password must not be enough to bind someone else's authenticator."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pdva.accounts.models import ActivationCode, code_digest
from pdva.audit.context import peek_actor
from pdva.audit.models import record

SESSION_KEY = "pdva_activation_id"  # set once a valid code was redeemed in this signed-in session


class ActivationRefused(ValueError):
    pass


def new_code() -> str:
    """A code that can be typed (or sent as a link): 20 characters in groups of five, about 100 bits."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
    raw = "".join(secrets.choice(alphabet) for _ in range(20))
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def issue(user: Any, *, hours: int | None = None) -> tuple[ActivationCode, str]:
    """Issue a new code (earlier unused ones are revoked); the plaintext is returned once, never stored.
    Must run inside an audit context (who issued it)."""
    hours = hours or settings.PDVA_ACTIVATION_HOURS
    raw = new_code()
    now = timezone.now()
    actor = peek_actor()
    with transaction.atomic():
        for earlier in ActivationCode.objects.filter(
            user=user, used_at__isnull=True, revoked_at__isnull=True
        ):
            earlier.revoked_at = now
            earlier.save(reason="replaced by a newer activation code")
        code = ActivationCode(
            user=user,
            code_hash=code_digest(raw),
            issued_by_label=actor.label if actor else "system",
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
        code.save(reason="two-factor activation code issued")
        record(
            "accounts.activation.issued",
            object_type="auth.user",
            object_id=user.pk,
            after={"username": user.get_username(), "expires_at": code.expires_at},
        )
    return code, raw


def redeem(user: Any, raw: str) -> ActivationCode:
    """Use a code (once). Refused when it is unknown, someone else's, used, revoked or expired."""
    now = timezone.now()
    with transaction.atomic():
        code = ActivationCode.objects.select_for_update().filter(code_hash=code_digest(raw or "")).first()
        if code is None or code.user_id != user.pk:
            raise ActivationRefused("That activation code is not valid")
        if code.used_at or code.revoked_at:
            raise ActivationRefused(
                "That activation code has already been used or was replaced by a newer one"
            )
        if code.expires_at <= now:
            raise ActivationRefused("That activation code has expired: ask your administrator for a new one")
        code.used_at = now
        code.save(reason="two-factor activation code used")
        record("accounts.activation.used", object_type="auth.user", object_id=user.pk)
    return code


def activation_url(raw: str) -> str:
    from django.urls import reverse

    return settings.PDVA_PUBLIC_BASE_URL.rstrip("/") + reverse("accounts:activate_link", args=[raw])


def email_code(user: Any, raw: str) -> None:
    """Mail the link to the user's own address (raises when mail is not configured or the user has none)."""
    from django.core.mail import EmailMessage

    if not user.email:
        raise ActivationRefused(f"{user.get_username()} has no email address")
    body = (
        f"Hello {user.get_username()},\n\n"
        "To set up two-factor sign-in for the pDVA Registry, sign in with your password and open this link:\n\n"
        f"{activation_url(raw)}\n\n"
        f"Or enter this activation code when asked: {raw}\n\n"
        f"It can be used once and expires in {settings.PDVA_ACTIVATION_HOURS} hours. "
        "If you did not expect this message, tell your registry administrator.\n"
    )
    EmailMessage(subject="pDVA Registry: set up two-factor sign-in", body=body, to=[user.email]).send(
        fail_silently=False
    )
