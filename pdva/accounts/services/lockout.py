"""django-axes lockout for every form that checks a password or code of a signed-in user (the second
factor, sign-off and unlock re-authentication), counted with the sign-in failures of the same account."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

_request: ContextVar[HttpRequest | None] = ContextVar("pdva_current_request", default=None)


def set_current_request(request: HttpRequest | None) -> Any:
    return _request.set(request)


def reset_current_request(token: Any) -> None:
    _request.reset(token)


def current_request() -> HttpRequest | None:
    """The request being answered (set by SessionTimeoutMiddleware), for forms that are not given it."""
    return _request.get()


def _credentials(user: Any) -> dict[str, str]:
    return {"username": user.get_username()}


def is_locked_out(user: Any, request: HttpRequest | None = None) -> bool:
    """Locked out after too many failures: the response becomes axes' lockout page and the session ends."""
    request = request or current_request()
    if request is None or not settings.AXES_ENABLED:
        return False
    from axes.handlers.proxy import AxesProxyHandler

    if AxesProxyHandler.is_allowed(request, _credentials(user)):
        return False
    request.axes_locked_out = True  # type: ignore[attr-defined]
    request.axes_credentials = _credentials(user)  # type: ignore[attr-defined]
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        logout(request)
    return True


def count_failure(user: Any, request: HttpRequest | None = None) -> None:
    """One more failed attempt for this account and address; a lockout if it was one too many."""
    request = request or current_request()
    if request is None:
        return
    user_login_failed.send(sender=__name__, credentials=_credentials(user), request=request)
    if getattr(request, "axes_locked_out", False) and request.user.is_authenticated:
        logout(request)


class ReauthFailed(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def reauthenticate(user: Any, *, password: str = "", token: str = "") -> str:
    """Check a re-entered password or a current authenticator code; return "password" or "totp".

    Raises ReauthFailed(field, message); a failure counts towards the lockout, and a locked-out account is
    refused whatever it sends."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    token = (token or "").strip()
    if not password and not token:
        raise ReauthFailed("password", "Re-enter your password or an authenticator code to sign")
    if is_locked_out(user):
        raise ReauthFailed("password", "Too many failed attempts: this account is locked for now")
    if password:
        if user.check_password(password):
            return "password"
        count_failure(user)
        raise ReauthFailed("password", "That password is not right")
    devices = TOTPDevice.objects.filter(user=user, confirmed=True)
    if token.isdigit() and any(d.verify_token(token) for d in devices):
        return "totp"
    count_failure(user)
    raise ReauthFailed("token", "That code is not valid")
