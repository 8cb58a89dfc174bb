"""Report pages and downloads. Site pages need the capability at that site (404 otherwise); national pages
need VIEW_NATIONAL and show sites only in aggregate with small counts suppressed."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pdva.accounts.access import can, site_ids_for, sites_for
from pdva.accounts.roles import Cap
from pdva.registry.models import Operator, Site
from pdva.reports.models import ReportSend
from pdva.reports.services.disclosure import suppresses_small_numbers

# Report services (pandas, scipy, matplotlib, WeasyPrint, openpyxl) are imported inside the views that
# use them: the URLconf loads this module, and every pdva command would pay for them at start-up.


def require_cap(cap: Cap) -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not can(request.user, cap):
                raise Http404("not found")
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


def _site_for(
    request: HttpRequest, site_id: int, cap: Cap = Cap.VIEW_SITE_REPORTS, *, site_member: bool = False
) -> Site:
    """The site if the user has ``cap`` there (and, with site_member, holds a site role there); else 404."""
    ids = site_ids_for(request.user, cap)
    if ids is not None and site_id not in ids:
        raise Http404("not found")
    if site_member and ids is None:
        raise Http404("not found")
    return get_object_or_404(Site, pk=site_id)


def _queue(request: HttpRequest, kind: str, **params: Any) -> HttpResponse:
    """Queue the report as a background job and send the user to its page (the job checks the same
    permission again when it runs, and records what the page used to record)."""
    from pdva.jobs.registry import JobError, JobRefused
    from pdva.jobs.services import enqueue

    try:
        job = enqueue(kind, user=request.user, **params)
    except JobRefused:
        raise Http404("not found") from None
    except JobError as exc:  # e.g. a period that is not a quarter
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    return redirect("jobs:detail", pk=job.pk)


@require_cap(Cap.VIEW_SITE_REPORTS)
def index(request: HttpRequest) -> HttpResponse:
    sites = sites_for(request.user, Cap.VIEW_SITE_REPORTS).order_by("ods_code")
    national_only = site_ids_for(request.user, Cap.VIEW_SITE_REPORTS) is None
    operators = (
        [] if national_only else Operator.objects.alive().filter(site__in=sites).select_related("site")
    )
    return render(
        request,
        "reports/index.html",
        {
            "sites": sites,
            "operators": operators,
            "national_only": national_only,
            "can_national": can(request.user, Cap.VIEW_NATIONAL),
        },
    )


@login_required
def sap(request: HttpRequest) -> HttpResponse:
    from pdva.reports.services import common

    return render(request, "reports/sap.html", {"sap": common.sap_context(), **risk_model_context()})


def risk_model_context() -> dict[str, Any]:
    """The configured risk model and, when it can describe itself, its fit (registry-wide aggregates)."""
    from django.conf import settings

    from pdva.reports.services.appraisal import risk_model

    setting = getattr(settings, "PDVA_RISK_MODEL", "")
    context: dict[str, Any] = {"risk_model_setting": setting, "risk_model": None, "risk_model_error": ""}
    model = risk_model()
    describe = getattr(model, "describe", None)
    if describe is not None:
        try:
            context["risk_model"] = describe()
        except ValueError as exc:
            context["risk_model_error"] = str(exc)
    return context


def _snapshot_page(request: HttpRequest, template: str, scope: Any, live: dict[str, Any]) -> HttpResponse:
    """Render the scope's stored report (computed off the request path); while the first one is being
    computed, a holding page that reloads itself."""
    from pdva.reports.services import snapshots

    view = snapshots.latest(scope)
    return render(request, template if view.ready else "reports/computing.html", {**live, "snapshot": view})


@require_cap(Cap.VIEW_SITE_REPORTS)
def dashboard(request: HttpRequest, site_id: int) -> HttpResponse:
    from pdva.reports.services.snapshots import site_scope

    site = _site_for(request, site_id)
    live = {
        "site": site,
        "title": f"Governance dashboard: {site.name} ({site.ods_code})",
        "sends": ReportSend.objects.alive().filter(site=site)[:10],
        "can_send": can(request.user, Cap.MANAGE_GOVERNANCE, site.pk),
    }
    scope = site_scope(site.pk, suppress=suppresses_small_numbers(request.user))
    return _snapshot_page(request, "reports/dashboard.html", scope, live)


@require_cap(Cap.VIEW_SITE_REPORTS)
def governance_pdf(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site_for(request, site_id)
    return _queue(
        request, "reports.governance_pdf", site_id=site.pk, period=request.GET.get("period") or None
    )


@require_POST
@require_cap(Cap.MANAGE_GOVERNANCE)
def governance_send(request: HttpRequest, site_id: int) -> HttpResponse:
    from pdva.jobs.registry import JobError, JobRefused
    from pdva.jobs.services import enqueue

    site = _site_for(request, site_id, Cap.MANAGE_GOVERNANCE, site_member=True)
    try:  # rendering and sending happen in a background job; every attempt is listed with the sends
        job = enqueue(
            "reports.governance_send",
            user=request.user,
            site_id=site.pk,
            period=request.POST.get("period") or None,
        )
    except JobRefused:
        raise Http404("not found") from None
    except JobError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    if not request.htmx:
        return redirect("jobs:detail", pk=job.pk)
    sends = ReportSend.objects.alive().filter(site=site)[:10]
    return render(request, "reports/_sends.html", {"sends": sends, "site": site, "job": job})


@require_cap(Cap.VIEW_CLINICAL)
def workbook(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site_for(request, site_id, Cap.VIEW_CLINICAL, site_member=True)
    return _queue(request, "reports.workbook", site_id=site.pk)


@require_cap(Cap.VIEW_SITE_REPORTS)
def decision_aid_pdf(request: HttpRequest, site_id: int) -> HttpResponse:
    site = _site_for(request, site_id)
    return _queue(
        request, "reports.decision_aid_pdf", site_id=site.pk, dialysis=request.GET.get("dialysis") == "1"
    )


@require_cap(Cap.VIEW_SITE_REPORTS)
def appraisal_pdf(request: HttpRequest, operator_id: int) -> HttpResponse:
    operator = get_object_or_404(Operator.objects.alive(), pk=operator_id)
    _site_for(request, operator.site_id, site_member=True)
    return _queue(request, "reports.appraisal_pdf", operator_id=operator.pk)


@require_cap(Cap.VIEW_NATIONAL)
def national(request: HttpRequest) -> HttpResponse:
    from pdva.reports.services.snapshots import national_scope

    live = {"title": "National benchmarking"}
    return _snapshot_page(request, "reports/national.html", national_scope(), live)


@require_cap(Cap.VIEW_NATIONAL)
def national_pdf(request: HttpRequest) -> HttpResponse:
    return _queue(request, "reports.national_pdf")
