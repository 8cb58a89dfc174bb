"""Site governance record and operators with their training records."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from pdva.accounts.access import can, sites_for
from pdva.accounts.roles import Cap
from pdva.capture.access import require_at, requires, visible_or_404
from pdva.capture.forms.workflow import OperatorForm, SiteGovernanceForm
from pdva.capture.services.records import save_form
from pdva.registry import models as m


@requires(Cap.VIEW_CLINICAL)
def governance(request: HttpRequest) -> HttpResponse:
    sites = (
        sites_for(request.user, Cap.VIEW_CLINICAL)
        .select_related("governance")
        .prefetch_related("operators")
        .order_by("ods_code")
    )
    rows = [
        {
            "site": s,
            "governance": getattr(s, "governance", None),
            "operators": [o for o in s.operators.all() if o.deleted_at is None],
            "can_manage": can(request.user, Cap.MANAGE_GOVERNANCE, s.pk),
        }
        for s in sites
    ]
    return render(request, "capture/governance.html", {"rows": rows})


def _render(
    request: HttpRequest, form: SiteGovernanceForm | OperatorForm, title: str, site: m.Site
) -> HttpResponse:
    status = 409 if form.conflict else 200
    return render(
        request, "capture/governance_form.html", {"form": form, "title": title, "site": site}, status=status
    )


@requires(Cap.MANAGE_GOVERNANCE)
@require_http_methods(["GET", "POST"])
def governance_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    site = visible_or_404(m.Site, request.user, pk=site_id)
    require_at(request.user, Cap.MANAGE_GOVERNANCE, site.pk)
    instance = m.SiteGovernance.objects.filter(site=site).first() or m.SiteGovernance(site=site)
    form = SiteGovernanceForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        if save_form(form, creating=instance.pk is None).saved:
            messages.success(request, f"Governance record for {site.name} saved.")
            return redirect("capture:governance")
    return _render(request, form, f"Governance: {site.name}", site)


@requires(Cap.MANAGE_GOVERNANCE)
@require_http_methods(["GET", "POST"])
def operator_new(request: HttpRequest, site_id: int) -> HttpResponse:
    site = visible_or_404(m.Site, request.user, pk=site_id)
    require_at(request.user, Cap.MANAGE_GOVERNANCE, site.pk)
    form = OperatorForm(request.POST or None, instance=m.Operator(site=site))
    if request.method == "POST" and form.is_valid():
        if save_form(form, creating=True).saved:
            messages.success(request, "Operator added.")
            return redirect("capture:governance")
    return _render(request, form, f"New operator at {site.name}", site)


@requires(Cap.MANAGE_GOVERNANCE)
@require_http_methods(["GET", "POST"])
def operator_edit(request: HttpRequest, pk: int) -> HttpResponse:
    operator = visible_or_404(m.Operator, request.user, pk=pk)
    require_at(request.user, Cap.MANAGE_GOVERNANCE, operator.site_id)
    form = OperatorForm(request.POST or None, instance=operator)
    if request.method == "POST" and form.is_valid():
        if save_form(form, creating=False).saved:
            messages.success(request, "Operator record saved.")
            return redirect("capture:governance")
    return _render(request, form, f"Operator {operator.code}", operator.site)
