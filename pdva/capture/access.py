"""Capability checks for capture views. Fail closed: another site's record is a 404, never its data."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse

from pdva.accounts.access import can, scoped
from pdva.accounts.roles import Cap


def requires(cap: Cap) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Signed in, and ``cap`` at some site (403 otherwise). Object checks happen in the view."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not can(request.user, cap):
                raise PermissionDenied(f"Your role does not allow this ({cap.value.replace('_', ' ')}).")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def visible_or_404(model: type[models.Model], user: Any, **lookup: Any) -> Any:
    """The record if the user may see clinical data at its site, else 404 (never 403: that leaks existence)."""
    try:
        return scoped(model.objects, user, Cap.VIEW_CLINICAL).get(**lookup)
    except model.DoesNotExist as exc:
        raise Http404("No such record") from exc


def require_at(user: Any, cap: Cap, site_id: int | None) -> None:
    if site_id is None or not can(user, cap, site_id):
        raise PermissionDenied(f"Your role does not allow this at this site ({cap.value.replace('_', ' ')}).")
