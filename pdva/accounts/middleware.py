"""Two-factor authentication for every staff login (TOTP, django-otp), and the session time limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from pdva.accounts.services.lockout import reset_current_request, set_current_request

# Paths a signed-in user may reach before completing the second factor.
EXEMPT_PREFIXES = ("/accounts/", "/static/", "/prom/", "/api/", "/healthz")

SIGNED_IN_AT = "pdva_signed_in_at"  # epoch seconds, set at sign-in (see signals)
LAST_SEEN = "pdva_last_seen"
LAST_SEEN_RESOLUTION = 30  # seconds: the session is not rewritten on every request


def two_factor_relaxed(user) -> bool:  # type: ignore[no-untyped-def]
    """Demo mode relaxes two-factor for the demo's own users only, under a banner."""
    return bool(settings.PDVA_DEMO_MODE and user.username.startswith("demo-"))


class TwoFactorRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()  # type: ignore[union-attr]
            and not two_factor_relaxed(user)
            and not request.path.startswith(EXEMPT_PREFIXES)
        ):
            target = reverse("accounts:two_factor")
            if request.method == "GET":
                target += "?" + urlencode({"next": request.get_full_path()})
            return redirect(target)
        return self.get_response(request)


def session_expired(session: dict, now: float) -> str | None:
    """Why this session has ended ("idle", "absolute") or None. Pure: the times live in the session."""
    signed_in = session.get(SIGNED_IN_AT)
    last_seen = session.get(LAST_SEEN, signed_in)
    if signed_in is not None and now - float(signed_in) > settings.SESSION_COOKIE_AGE:
        return "absolute"
    if last_seen is not None and now - float(last_seen) > settings.PDVA_IDLE_TIMEOUT_MINUTES * 60:
        return "idle"
    return None


class SessionTimeoutMiddleware:
    """Ends a signed-in session after PDVA_IDLE_TIMEOUT_MINUTES without a request, and at the latest
    SESSION_COOKIE_AGE after sign-in (the cookie's own expiry slides whenever the session is saved, so it
    is not the absolute limit by itself). Also makes the request known to forms (lockout counting)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = set_current_request(request)
        try:
            return self._answer(request)
        finally:
            reset_current_request(token)

    def _answer(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            session = request.session
            if SIGNED_IN_AT not in session:
                session[SIGNED_IN_AT] = now
            why = session_expired(session, now)
            if why:
                logout(request)
                messages.info(
                    request,
                    "You were signed out after "
                    + (
                        f"{settings.PDVA_IDLE_TIMEOUT_MINUTES} minutes without activity."
                        if why == "idle"
                        else f"{settings.SESSION_COOKIE_AGE // 3600} hours. Please sign in again."
                    ),
                )
                if request.path.startswith("/api/") or request.headers.get("HX-Request"):
                    return HttpResponse("Session expired: sign in again", status=401)
                return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path()})}")
            if now - float(session.get(LAST_SEEN, 0)) > LAST_SEEN_RESOLUTION:
                session[LAST_SEEN] = now
        return self.get_response(request)
