"""The personal API tokens page: create (the token is shown once), list and revoke your own tokens."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pdva.accounts.access import roles_of
from pdva.accounts.middleware import two_factor_relaxed
from pdva.api.models import DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS, ApiToken


def verified_member(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """/api/ is exempt from the two-factor middleware (tokens are the factor there), so pages under it
    check the second factor themselves."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_verified() or two_factor_relaxed(user)):  # type: ignore[union-attr]
            return redirect("accounts:two_factor")
        if not roles_of(user):
            return render(request, "web/no_access.html", {}, status=403)
        return view(request, *args, **kwargs)

    return login_required(wrapper)


@verified_member
def tokens(request: HttpRequest) -> HttpResponse:
    created = None
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        try:
            days = int(request.POST.get("days", DEFAULT_LIFETIME_DAYS))
        except ValueError:
            days = -1
        if not name:
            error = "Give the token a name that says what it is for."
        elif not 1 <= days <= MAX_LIFETIME_DAYS:
            error = f"A token must expire within 1 to {MAX_LIFETIME_DAYS} days."
        else:
            token, raw = ApiToken.issue(request.user, name, days=days)
            created = {"token": token, "raw": raw}
    context = {
        "tokens": ApiToken.objects.filter(user=request.user, deleted_at__isnull=True),
        "created": created,
        "error": error,
        "default_days": DEFAULT_LIFETIME_DAYS,
        "max_days": MAX_LIFETIME_DAYS,
    }
    return render(request, "api/tokens.html", context, status=400 if error else 200)


@require_POST
@verified_member
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token.revoke()
    return redirect("api_tokens")
