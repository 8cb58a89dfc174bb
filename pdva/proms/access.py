"""Staff access to PROM pages. /prom/ is exempt from the two-factor middleware (the patient page needs no
login), so staff views check sign-in, a verified second factor and a capability themselves."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from pdva.accounts.access import can
from pdva.accounts.middleware import two_factor_relaxed
from pdva.accounts.roles import Cap


def staff_required(*caps: Cap) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not (user.is_verified() or two_factor_relaxed(user)):  # type: ignore[union-attr]
                return redirect("accounts:two_factor")
            if not any(can(user, cap) for cap in caps):
                return render(request, "proms/forbidden.html", {}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
