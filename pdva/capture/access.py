"""Capability checks for capture views. Fail closed: another site's record is a 404, never its data."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse

from pdva.accounts.access import can, scoped, site_ids_for
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


def visible_or_404(
    model: type[models.Model], user: Any, *, include_removed: bool = False, **lookup: Any
) -> Any:
    """The record if the user may see clinical data at its site, else 404 (never 403: that leaks existence).

    ``include_removed``: also a record removed as entered in error (its audit history stays readable)."""
    try:
        if include_removed:
            ids = site_ids_for(user, Cap.VIEW_CLINICAL)
            qs = model.objects.all() if ids is None else model.objects.for_sites(ids)
            return qs.get(**lookup)
        return scoped(model.objects, user, Cap.VIEW_CLINICAL).get(**lookup)
    except model.DoesNotExist as exc:
        raise Http404("No such record") from exc


def is_data_manager_at(user: Any, site_id: int | None) -> bool:
    """Whether the user may remove a whole case or patient at the site (the site data manager)."""
    return site_id is not None and can(user, Cap.REMOVE_CASE, site_id)


def may_remove(user: Any, kind: Any, site_id: int | None) -> bool:
    """Whether the user may remove records of ``kind`` (a capture Kind) at the site."""
    if kind.removable == "edit":
        return site_id is not None and can(user, Cap.EDIT_CLINICAL, site_id)
    if kind.removable == "data_manager":
        return is_data_manager_at(user, site_id)
    return False


def require_at(user: Any, cap: Cap, site_id: int | None) -> None:
    if site_id is None or not can(user, cap, site_id):
        raise PermissionDenied(f"Your role does not allow this at this site ({cap.value.replace('_', ' ')}).")
