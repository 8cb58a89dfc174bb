"""Follow-up pages: worklist, compliance, digests, linkage proposals and case ascertainment."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from pdva.accounts.access import can, site_ids_for
from pdva.accounts.roles import Cap
from pdva.core.paging import CountedRows, paged
from pdva.followup.access import data_manager_site_ids, require
from pdva.followup.forms import AscertainmentUploadForm, LinkageUploadForm, RejectForm
from pdva.followup.models import AscertainmentUpload, DigestSend, FollowUpRun, LinkageBatch, LinkageProposal
from pdva.followup.services import ascertainment as asc
from pdva.followup.services import current_schedule, linkage
from pdva.registry.choices import AmputationLevel, Limb
from pdva.registry.models import Site

WORKLIST_STATUSES = {
    "open": ("due", "overdue"),
    "overdue": ("overdue",),
    "missed": ("missed",),
    "due": ("due",),
    "upcoming": ("not_yet_due",),
}


@require(Cap.VIEW_CLINICAL)
def worklist(request: HttpRequest) -> HttpResponse:
    from pdva.followup.services import worklist as wl

    show = request.GET.get("show", "open")
    if show not in WORKLIST_STATUSES:
        show = "open"
    today = timezone.localdate()
    site_ids = site_ids_for(request.user, Cap.VIEW_CLINICAL)
    wanted = WORKLIST_STATUSES[show]
    rows = CountedRows(wl.worklist(site_ids, today, wanted), wl.count(site_ids, today, wanted))
    listed = paged(request, rows, per_page=wl.PAGE_SIZE)
    schedule = current_schedule()
    context = {
        "items": wl.as_items(listed.items, schedule),
        "paged": listed,
        "count": listed.count,
        "show": show,
        "choices": list(WORKLIST_STATUSES),
        "today": today,
        "schedule": schedule,
        "last_run": wl.last_run(),
        "data_manager": bool(data_manager_site_ids(request.user)),
    }
    template = "followup/_worklist_table.html" if request.htmx else "followup/worklist.html"
    return render(request, template, context)


@require(Cap.VIEW_SITE_REPORTS, Cap.VIEW_NATIONAL)
def compliance(request: HttpRequest) -> HttpResponse:
    from pdva.followup.services import worklist as wl

    today = timezone.localdate()
    user = request.user
    site_ids = None if can(user, Cap.VIEW_NATIONAL) else site_ids_for(user, Cap.VIEW_SITE_REPORTS)
    report = wl.compliance_12m(site_ids, today)
    open_statuses = ("due", "overdue", "missed")
    counts = wl.counts_by_site(site_ids, today, open_statuses)
    empty = dict.fromkeys(open_statuses, 0)
    rows = [(r, counts.get(r.site_id, empty) if r.site_id is not None else empty) for r in report.sites]
    rates, overall = asc.rates(site_ids)
    return render(
        request,
        "followup/compliance.html",
        {"report": report, "rows": rows, "ascertainment": rates, "ascertainment_overall": overall},
    )


@require(Cap.VIEW_SITE_REPORTS)
def digests(request: HttpRequest) -> HttpResponse:
    site_ids = site_ids_for(request.user, Cap.VIEW_SITE_REPORTS)
    sends = DigestSend.objects.select_related("site")
    if site_ids is not None:
        sends = sends.filter(site_id__in=site_ids)
    return render(
        request,
        "followup/digests.html",
        {"sends": sends[:200], "runs": FollowUpRun.objects.all()[:20]},
    )


# --- linkage ------------------------------------------------------------------------------------------


def _proposals_in_scope(user: Any) -> QuerySet[LinkageProposal]:
    return LinkageProposal.objects.alive().filter(patient__site_id__in=data_manager_site_ids(user))


@require(Cap.MANAGE_LINKAGE)
@require_http_methods(["GET", "POST"])
def linkage_index(request: HttpRequest) -> HttpResponse:
    user = request.user
    site_ids = sorted(data_manager_site_ids(user))
    form = LinkageUploadForm(request.POST or None, request.FILES or None)
    errors: list = []
    if request.method == "POST" and form.is_valid():
        from pdva.jobs.services import enqueue

        # Checked and imported by a background job (all-or-nothing); its page shows the batch or the
        # problems with their line numbers. The file is kept beside the job, not in its parameters.
        job = enqueue(
            "followup.import_linkage",
            user=user,
            inputs={"upload.csv": form.cleaned_data["file"].encode("utf-8")},
            kind=form.cleaned_data["kind"],
            filename=request.FILES["file"].name[:200],
        )
        return redirect("jobs:detail", pk=job.pk)
    batches = (
        LinkageBatch.objects.alive()
        .filter(Q(uploaded_by=user) | Q(proposals__patient__site_id__in=site_ids))
        .distinct()
        .order_by("-created_at")[:50]
    )
    return render(request, "followup/linkage.html", {"form": form, "errors": errors, "batches": batches})


@require(Cap.MANAGE_LINKAGE)
def linkage_batch(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    site_ids = data_manager_site_ids(user)
    batch = get_object_or_404(
        LinkageBatch.objects.alive()
        .filter(Q(uploaded_by=user) | Q(proposals__patient__site_id__in=site_ids))
        .distinct(),
        pk=pk,
    )
    proposals = _proposals_in_scope(user).filter(batch=batch).select_related("patient", "procedure")
    own = batch.uploaded_by_id == user.pk
    return render(
        request,
        "followup/linkage_batch.html",
        {
            "batch": batch,
            "proposals": proposals,
            "report": batch.report if own else None,
            "levels": AmputationLevel.choices,
            "limbs": Limb.choices,
        },
    )


@require(Cap.MANAGE_LINKAGE)
@require_POST
def linkage_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    proposal = get_object_or_404(_proposals_in_scope(request.user).select_related("patient", "batch"), pk=pk)
    error = ""
    try:
        if decision == "accept":
            linkage.accept(
                proposal,
                user=request.user,
                overrides={k: request.POST.get(k, "") for k in ("limb", "level")},
            )
        elif decision == "reject":
            form = RejectForm(request.POST)
            linkage.reject(proposal, user=request.user, note=form.data.get("note", ""))
        else:
            error = "unknown decision"
    except linkage.DecisionError as exc:
        error = str(exc)
    proposal.refresh_from_db()
    context = {"p": proposal, "error": error, "levels": AmputationLevel.choices, "limbs": Limb.choices}
    if request.htmx:
        return render(request, "followup/_proposal_row.html", context)
    return redirect("followup:linkage_batch", pk=proposal.batch_id)


# --- case ascertainment -------------------------------------------------------------------------------


@require(Cap.MANAGE_LINKAGE)
@require_http_methods(["GET", "POST"])
def ascertainment_index(request: HttpRequest) -> HttpResponse:
    user = request.user
    site_ids = data_manager_site_ids(user)
    sites = Site.objects.filter(pk__in=site_ids).order_by("ods_code")
    form = AscertainmentUploadForm(request.POST or None, request.FILES or None, sites=sites)
    errors: list = []
    if request.method == "POST" and form.is_valid():
        from pdva.jobs.services import enqueue

        d = form.cleaned_data
        job = enqueue(  # compared by a background job, as the linkage import
            "followup.import_ascertainment",
            user=user,
            inputs={"upload.csv": d["file"].encode("utf-8")},
            site_id=d["site"].pk,
            start=d["period_start"].isoformat(),
            end=d["period_end"].isoformat(),
            filename=request.FILES["file"].name[:200],
        )
        return redirect("jobs:detail", pk=job.pk)
    rates, overall = asc.rates(site_ids)
    uploads = AscertainmentUpload.objects.alive().filter(site_id__in=site_ids).select_related("site")[:50]
    return render(
        request,
        "followup/ascertainment.html",
        {"form": form, "errors": errors, "rates": rates, "overall": overall, "uploads": uploads},
    )


@require(Cap.MANAGE_LINKAGE)
def ascertainment_upload(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_object_or_404(
        AscertainmentUpload.objects.alive().filter(site_id__in=data_manager_site_ids(request.user)), pk=pk
    )
    return render(
        request,
        "followup/ascertainment_upload.html",
        {
            "upload": upload,
            "missing": asc.missing_rows(upload),
            "extra": asc.registered_not_listed(upload),
            "show_identifiers": can(request.user, Cap.VIEW_IDENTIFIERS, upload.site_id),
        },
    )
