"""The exports page: authorised roles choose an export; it is built by a background job and downloaded from
the job's page (every export is audited)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from pdva.accounts.access import can
from pdva.exports.services import AUDIT_RECORDS_CAP, allowed_kinds

LABELS = {
    "research": "De-identified research export (tidy tables, CSV zip or Parquet, data dictionary, manifest)",
    "redcap": "REDCap project files (18-column data dictionary, events, longitudinal data CSV)",
    "odm": "CDISC ODM 1.3.2 XML (study metadata and clinical data, de-identified)",
    "fhir": "FHIR R4 Bundle (JSON)",
    "full": "Full export of your sites, identifiers included (for moving a site or re-import)",
}


@login_required
def index(request: HttpRequest) -> HttpResponse:
    kinds = allowed_kinds(request.user)
    if not kinds:
        return render(request, "web/no_access.html", {}, status=403)
    can_audit = "odm" in kinds and can(request.user, AUDIT_RECORDS_CAP)
    error = ""
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        fmt = request.POST.get("format", "csv")
        if kind not in kinds:
            error = "Choose one of the exports offered."
        elif kind == "research" and fmt not in ("csv", "parquet"):
            error = "Choose CSV or Parquet."
        else:
            from pdva.jobs.registry import JobError, JobRefused
            from pdva.jobs.services import enqueue

            options: dict[str, object] = {"fmt": fmt} if kind == "research" else {}
            if kind == "odm" and can_audit and request.POST.get("audit") == "on":
                options["audit"] = True
            try:  # the job runs run_export as this user, in their scope, and checks their role again
                job = enqueue("exports.export", user=request.user, kind=kind, **options)
            except (JobRefused, JobError) as exc:
                error = str(exc)
            else:
                return redirect("jobs:detail", pk=job.pk)
    options = [(k, LABELS[k]) for k in kinds]
    return render(
        request,
        "exports/index.html",
        {"options": options, "error": error, "can_audit": can_audit},
        status=400 if error else 200,
    )
