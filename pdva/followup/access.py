"""Capability checks for follow-up pages (the two-factor middleware already covers /followup/)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pdva.accounts.access import can, site_ids_for
from pdva.accounts.roles import Cap


def data_manager_site_ids(user: Any) -> set[int]:
    """Sites where the user manages linkage and case ascertainment (the site data manager)."""
    return site_ids_for(user, Cap.MANAGE_LINKAGE) or set()


def require(
    *caps: Cap, all_of: bool = False
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            test = all if all_of else any
            if not test(can(request.user, cap) for cap in caps):
                return render(request, "followup/forbidden.html", {}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
