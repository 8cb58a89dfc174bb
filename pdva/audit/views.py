"""The auditor's view of the trail: filter, page, export (CSV, formula-safe), each export audited."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from pdva.audit import trail
from pdva.audit.forms import TrailFilterForm
from pdva.audit.models import record
from pdva.registry.models import Site


class _Echo:
    def write(self, value: str) -> str:
        return value


def _form(request: HttpRequest) -> TrailFilterForm:
    ids = trail.reach(request.user)
    if ids is not None and not ids:
        raise Http404("not found")  # no reach: the page does not exist for this user
    sites = (
        Site.objects.order_by("ods_code")
        if ids is None
        else Site.objects.filter(pk__in=ids).order_by("ods_code")
    )
    return TrailFilterForm(request.GET or None, sites=sites)


@login_required
def trail_page(request: HttpRequest) -> HttpResponse:
    form = _form(request)
    rows: list = []
    next_before = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        status = 200
        f = form.trail_filter() if form.is_bound else trail.TrailFilter()
        try:
            before = int(request.GET["before"]) if request.GET.get("before") else None
        except ValueError:
            before = None
        rows, next_before = trail.page(trail.entries(request.user, f), before)
        codes = dict(Site.objects.values_list("id", "ods_code"))
        for entry in rows:
            entry.site_code = codes.get(entry.site_id, "")
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "audit/trail.html",
        {"form": form, "rows": rows, "next_before": next_before, "query": query.urlencode()},
        status=status,
    )


@login_required
def trail_export(request: HttpRequest) -> HttpResponse:
    from pdva.exports.lib import neutralise_row

    form = _form(request)
    if form.is_bound and not form.is_valid():
        return render(request, "audit/trail.html", {"form": form, "rows": []}, status=400)
    f = form.trail_filter() if form.is_bound else trail.TrailFilter()
    qs = trail.entries(request.user, f)
    # Who exported which part of the trail, in the trail itself (the middleware names the user).
    record(
        "audit.trail.exported",
        object_type="audit.auditentry",
        object_id="filtered",
        after={k: v for k, v in request.GET.items() if v},
        reason="audit trail exported",
    )
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(trail.EXPORT_HEADER)
        for row in trail.export_rows(qs):
            yield writer.writerow(neutralise_row(row))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="pdva-audit-trail-{stamp}.csv"'
    return response
