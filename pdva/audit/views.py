"""The auditor's view of the trail: filter, page, export (CSV, formula-safe), each export audited."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from pdva.audit import trail
from pdva.audit.forms import TrailFilterForm
from pdva.audit.models import record
from pdva.registry.models import Site


class _Echo:
    def write(self, value: str) -> str:
        return value


def _form(request: HttpRequest) -> tuple[TrailFilterForm, set[int] | None]:
    """The filter form over the sites within the user's reach, and that reach (None: every entry)."""
    ids = trail.reach(request.user)
    if ids is not None and not ids:
        raise Http404("not found")  # no reach: the page does not exist for this user
    sites = (
        Site.objects.order_by("ods_code")
        if ids is None
        else Site.objects.filter(pk__in=ids).order_by("ods_code")
    )
    return TrailFilterForm(request.GET or None, sites=sites), ids


@login_required
def trail_page(request: HttpRequest) -> HttpResponse:
    form, reach = _form(request)
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
        {
            "form": form,
            "rows": rows,
            "next_before": next_before,
            "query": query.urlencode(),
            "may_verify": reach is None,
            **_verification(),
        },
        status=status,
    )


def _verification() -> dict[str, object]:
    """The latest verification job and checkpoint, for the page (both concern the whole chain)."""
    from pdva.audit.checkpoints import BadCheckpoint, read_newest
    from pdva.jobs.models import Job

    newest = read_newest()
    return {
        "verify_job": Job.objects.filter(kind="audit.verify").order_by("-created_at", "-pk").first(),
        "checkpoint": newest if not isinstance(newest, BadCheckpoint) else None,
        "bad_checkpoint": newest if isinstance(newest, BadCheckpoint) else None,
    }


@login_required
@require_POST
def verify_now(request: HttpRequest) -> HttpResponse:
    """A national auditor asks for a full verification now; it runs as the scheduled job does."""
    from pdva.jobs.services import enqueue

    if trail.reach(request.user) is not None:
        raise Http404("not found")
    record("audit.verify.requested", object_type="audit.auditentry", object_id="chain", reason="verify now")
    job = enqueue("audit.verify")
    messages.success(request, f"Verification queued (job {job.pk}); its result shows here when it is done.")
    return redirect("audit:trail")


@login_required
def trail_export(request: HttpRequest) -> HttpResponse:
    from pdva.exports.lib import neutralise_row

    form, _ = _form(request)
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
