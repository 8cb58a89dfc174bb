"""The site worklist: follow-ups due, missing mandatory data, open queries, MHRA reports outstanding."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pdva.accounts.access import site_ids_for, sites_for
from pdva.accounts.roles import Cap
from pdva.capture.access import requires
from pdva.capture.services import worklists as w


@requires(Cap.VIEW_CLINICAL)
def worklist(request: HttpRequest) -> HttpResponse:
    allowed = site_ids_for(request.user, Cap.VIEW_CLINICAL)
    sites = list(sites_for(request.user, Cap.VIEW_CLINICAL))
    chosen = request.GET.get("site", "")
    site_ids = allowed
    if chosen.isdigit() and (allowed is None or int(chosen) in allowed):
        site_ids = {int(chosen)}
    today = dt.date.today()
    follow = w.followups(site_ids, today)
    context = {
        "sites": sites,
        "chosen": int(chosen) if chosen.isdigit() else None,
        "today": today,
        "due": [i for i in follow if i.status in ("due", "overdue")],
        "missed": [i for i in follow if i.status == "missed"],
        "missing": w.missing_mandatory(site_ids),
        "queries": w.open_queries(site_ids),
        "mhra": w.mhra_unreported(site_ids),
    }
    return render(request, "capture/worklist.html", context)
