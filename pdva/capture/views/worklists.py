"""The site worklist: follow-ups due, missing mandatory data, open queries, MHRA reports outstanding.

Each list is paged in the database (its own page parameter, so paging one keeps the others where they
are); the site filter is a query parameter, limited to the user's sites (fail closed).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from pdva.accounts.access import site_ids_for, sites_for
from pdva.accounts.roles import Cap
from pdva.capture.access import requires
from pdva.capture.services import worklists as w
from pdva.core.paging import paged

# Five queues share the page: each shows this many rows and pages on its own (a site's full list is an export).
SECTION_SIZE = 20


@requires(Cap.VIEW_CLINICAL)
def worklist(request: HttpRequest) -> HttpResponse:
    allowed = site_ids_for(request.user, Cap.VIEW_CLINICAL)
    sites = list(sites_for(request.user, Cap.VIEW_CLINICAL).order_by("ods_code"))
    chosen = request.GET.get("site", "")
    site_ids = allowed
    if chosen.isdigit() and (allowed is None or int(chosen) in allowed):
        site_ids = {int(chosen)}
    today = timezone.localdate()
    due = w.followup_list(site_ids, today, ("due", "overdue"))
    missed = w.followup_list(site_ids, today, ("missed",))
    queues = {
        "due": due.rows,
        "missed": missed.rows,
        "missing": w.missing_mandatory(site_ids),
        "queries": w.open_queries(site_ids),
        "mhra": w.mhra_unreported(site_ids),
    }
    lists = {
        name: paged(request, rows, param=f"{name}_page", per_page=SECTION_SIZE)
        for name, rows in queues.items()
    }
    unchecked = w.unchecked_cases(site_ids)
    if unchecked:
        w.queue_completeness_check(site_ids)
    context = {
        "sites": sites,
        "chosen": int(chosen) if chosen.isdigit() else None,
        "today": today,
        "pages": lists,
        "due": due.to_items(lists["due"].items),
        "missed": missed.to_items(lists["missed"].items),
        "missing": w.as_missing_rows(lists["missing"].items),
        "queries": lists["queries"].items,
        "mhra": lists["mhra"].items,
        "unchecked": unchecked,
        "last_run": _last_run() if due.source == "engine" else None,
        "engine": due.source == "engine",
    }
    return render(request, "capture/worklist.html", context)


def _last_run():  # type: ignore[no-untyped-def]
    from pdva.followup.services.worklist import last_run

    return last_run()
