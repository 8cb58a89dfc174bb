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

# Linkage and ascertainment are data-manager work: editing clinical data and raising queries.
DATA_MANAGER_CAPS = (Cap.EDIT_CLINICAL, Cap.RAISE_QUERY)


def data_manager_site_ids(user: Any) -> set[int]:
    """Sites where the user can both edit clinical data and raise queries (the site data manager)."""
    sets = [site_ids_for(user, cap) for cap in DATA_MANAGER_CAPS]
    if any(s is None for s in sets):
        known = [s for s in sets if s is not None]
        if not known:
            from pdva.registry.models import Site

            return set(Site.objects.values_list("pk", flat=True))
        return set.intersection(*known)
    return set.intersection(*sets)  # type: ignore[arg-type]


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
