"""Two-factor authentication for every staff login (TOTP, django-otp)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

# Paths a signed-in user may reach before completing the second factor.
EXEMPT_PREFIXES = ("/accounts/", "/static/", "/prom/", "/api/", "/healthz")


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
            return redirect("accounts:two_factor")
        return self.get_response(request)
