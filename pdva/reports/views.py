"""Report pages and downloads. Site pages need the capability at that site (404 otherwise); national pages
need VIEW_NATIONAL and show sites only in aggregate with small counts suppressed."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from pdva.accounts.access import can, site_ids_for, sites_for
from pdva.accounts.roles import Cap
from pdva.audit.models import record
from pdva.registry.models import Operator, Site
from pdva.reports.models import ReportSend

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


def _is_national(user: Any) -> bool:
    return site_ids_for(user, Cap.VIEW_SITE_REPORTS) is None


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


def _pdf(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_cap(Cap.VIEW_SITE_REPORTS)
def index(request: HttpRequest) -> HttpResponse:
    sites = sites_for(request.user, Cap.VIEW_SITE_REPORTS).order_by("ods_code")
    national_only = _is_national(request.user)
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
    scope = site_scope(site.pk, suppress=_is_national(request.user))
    return _snapshot_page(request, "reports/dashboard.html", scope, live)


@require_cap(Cap.VIEW_SITE_REPORTS)
def governance_pdf(request: HttpRequest, site_id: int) -> HttpResponse:
    from pdva.reports.services import common
    from pdva.reports.services.pdf import render_pdf
    from pdva.reports.services.site import site_report

    site = _site_for(request, site_id)
    try:
        context = site_report(
            site, period=request.GET.get("period") or None, suppress=_is_national(request.user)
        )
    except common.PeriodError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    pdf = render_pdf("reports/pdf/governance.html", context)
    record(
        "reports.governance.downloaded",
        site,
        after={"period": context["period"], "cutoff": context["cutoff"].isoformat()},
    )
    return _pdf(pdf, f"pdva-governance-{site.ods_code}-{context['period']}.pdf")


@require_POST
@require_cap(Cap.MANAGE_GOVERNANCE)
def governance_send(request: HttpRequest, site_id: int) -> HttpResponse:
    from pdva.reports.services.send import send_governance_report

    site = _site_for(request, site_id, Cap.MANAGE_GOVERNANCE, site_member=True)
    send_governance_report(site, request.POST.get("period") or None)
    sends = ReportSend.objects.alive().filter(site=site)[:10]
    return render(
        request,
        "reports/_sends.html" if request.htmx else "reports/sends_page.html",
        {"sends": sends, "site": site},
    )


@require_cap(Cap.VIEW_CLINICAL)
def workbook(request: HttpRequest, site_id: int) -> HttpResponse:
    from pdva.reports.services.workbook import build_workbook

    site = _site_for(request, site_id, Cap.VIEW_CLINICAL, site_member=True)
    data = build_workbook(site)
    record("reports.workbook.exported", site, after={"site": site.ods_code})
    response = HttpResponse(
        data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="pdva-nice-audit-{site.ods_code}.xlsx"'
    return response


@require_cap(Cap.VIEW_SITE_REPORTS)
def decision_aid_pdf(request: HttpRequest, site_id: int) -> HttpResponse:
    from pdva.reports.services.decision_aid import decision_aid
    from pdva.reports.services.pdf import render_pdf

    site = _site_for(request, site_id)
    context = decision_aid(site, by_dialysis=request.GET.get("dialysis") == "1")
    return _pdf(
        render_pdf("reports/pdf/decision_aid.html", context), f"pdva-decision-aid-{site.ods_code}.pdf"
    )


@require_cap(Cap.VIEW_SITE_REPORTS)
def appraisal_pdf(request: HttpRequest, operator_id: int) -> HttpResponse:
    from pdva.reports.services.appraisal import appraisal_report
    from pdva.reports.services.pdf import render_pdf

    operator = get_object_or_404(Operator.objects.alive(), pk=operator_id)
    _site_for(request, operator.site_id, site_member=True)
    context = appraisal_report(operator)
    record("reports.appraisal.downloaded", operator, after={"operator": operator.code})
    return _pdf(render_pdf("reports/pdf/appraisal.html", context), f"pdva-appraisal-{operator.code}.pdf")


@require_cap(Cap.VIEW_NATIONAL)
def national(request: HttpRequest) -> HttpResponse:
    from pdva.reports.services.snapshots import national_scope

    live = {"title": "National benchmarking"}
    return _snapshot_page(request, "reports/national.html", national_scope(), live)


@require_cap(Cap.VIEW_NATIONAL)
def national_pdf(request: HttpRequest) -> HttpResponse:
    from pdva.reports.services.national import national_report
    from pdva.reports.services.pdf import render_pdf

    context = national_report()
    record(
        "reports.national.downloaded",
        None,
        object_type="reports.national",
        object_id="national",
        after={"cutoff": context["cutoff"].isoformat()},
    )
    return _pdf(render_pdf("reports/pdf/national.html", context), "pdva-national-benchmarking.pdf")
