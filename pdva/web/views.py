"""Signed-in landing page: what each role needs first."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pdva.accounts.access import primary_role, scoped, site_ids_for, sites_for
from pdva.accounts.roles import Cap, Role
from pdva.capture.services.worklists import mhra_unreported
from pdva.registry.models import Procedure, Site


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    role = primary_role(user)
    context: dict = {"role": role, "role_label": Role(role).label if role else None}
    if role is None:
        return render(request, "web/no_access.html", context, status=403)
    sites = sites_for(user, Cap.VIEW_CLINICAL)
    if role in (Role.SITE_CLINICIAN, Role.SITE_DATA_MANAGER, Role.SITE_GOVERNANCE_LEAD):
        procedures = scoped(Procedure.objects, user)
        context["sites"] = sites.annotate(
            n_patients=Count("patients", filter=Q(patients__deleted_at__isnull=True), distinct=True),
            n_procedures=Count(
                "patients__procedures", filter=Q(patients__procedures__deleted_at__isnull=True), distinct=True
            ),
        )
        context["recent_procedures"] = procedures.select_related("patient", "operator").order_by(
            "-procedure_date"
        )[:10]
        # The ten newest events still to report, straight from the partial index the worklist uses.
        context["events_to_report"] = list(
            mhra_unreported(site_ids_for(user, Cap.VIEW_CLINICAL), newest_first=True)[:10]
        )
    elif role == Role.NATIONAL_AUDITOR:
        context["site_summary"] = Site.objects.annotate(
            n_procedures=Count(
                "patients__procedures", filter=Q(patients__procedures__deleted_at__isnull=True)
            )
        ).order_by("ods_code")
    return render(request, "web/home.html", context)
