"""PROM pages: staff issue and track patient links, see reports and load licensed labels; patients complete
their questionnaire from a link without signing in."""

from __future__ import annotations

import io

import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from pdva.accounts.access import can, scoped, site_ids_for
from pdva.accounts.roles import Cap
from pdva.proms.access import staff_required
from pdva.proms.forms import IssueLinkForm, LabelUploadForm
from pdva.proms.models import InstrumentLabelSet, PromInvitation, PromMessage
from pdva.proms.services import links
from pdva.proms.services.labels import INSTRUMENT_NAMES, questionnaire
from pdva.registry.instruments import ITEMS
from pdva.registry.models import Patient

# PROM reports (pandas, scipy) are imported inside the view that uses them: the URLconf loads this
# module, and every pdva command would pay for them at start-up.


def _qr_svg(url: str) -> str:
    buf = io.BytesIO()
    segno.make(url, error="m").save(
        buf, kind="svg", scale=6, xmldecl=False, svgns=True, title="Questionnaire link"
    )
    return buf.getvalue().decode()


@staff_required(Cap.VIEW_CLINICAL)
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = IssueLinkForm(request.POST or None)
    if request.method == "POST":
        if not can(user, Cap.EDIT_CLINICAL):
            return render(request, "proms/forbidden.html", {}, status=403)
        if form.is_valid():
            data = form.cleaned_data
            patient = (
                scoped(Patient.objects, user, Cap.EDIT_CLINICAL)
                .filter(registry_id=data["registry_id"].strip().upper())
                .first()
            )
            if patient is None:
                form.add_error("registry_id", "No patient with this registry ID at your sites")
            else:
                procedure = (
                    patient.procedures.filter(deleted_at__isnull=True).order_by("-procedure_date").first()
                )
                try:
                    invitation = links.issue(
                        patient=patient,
                        procedure=procedure,
                        timepoint=data["timepoint"],
                        timepoint_year=data.get("timepoint_year"),
                        instruments=data["instruments"],
                        channel=data["channel"],
                        email=data.get("email") or "",
                        base_url=settings.PDVA_PUBLIC_BASE_URL,  # never the Host header
                        created_by=user,
                        send_now=False,  # the email goes out from a background job (retried if need be)
                    )
                except ValidationError as exc:
                    for field, messages in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, messages)
                else:
                    if invitation.channel == PromInvitation.EMAIL:
                        _queue_email(request, invitation, PromMessage.INVITATION)
                    return redirect("proms:link_detail", pk=invitation.pk)
    invitations = (
        scoped(PromInvitation.objects, user, Cap.VIEW_CLINICAL)
        .select_related("patient")
        .prefetch_related(Prefetch("messages", queryset=PromMessage.objects.order_by("at")))
        .order_by("-created_at")[:100]
    )
    return render(request, "proms/index.html", {"form": form, "invitations": invitations})


def _queue_email(request: HttpRequest, invitation: PromInvitation, message: str) -> None:
    from django.contrib import messages

    from pdva.jobs.services import enqueue

    job = enqueue("proms.send_link", user=request.user, invitation_id=invitation.pk, message=message)
    if job.state == job.FAILED:
        messages.error(request, job.error)
    elif job.state != job.SUCCEEDED:
        messages.info(
            request, "The email is being sent in the background; the list below shows each attempt."
        )


@staff_required(Cap.VIEW_CLINICAL)
def link_detail(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(
        scoped(PromInvitation.objects, request.user, Cap.VIEW_CLINICAL).select_related("patient"), pk=pk
    )
    url = links.link_for(invitation) if invitation.state == "open" else ""
    return render(
        request,
        "proms/link_detail.html",
        {
            "invitation": invitation,
            "url": url,
            "qr_svg": _qr_svg(url) if url else "",
            "messages_log": invitation.messages.all(),
            "names": [INSTRUMENT_NAMES[i] for i in invitation.instruments],
        },
    )


@staff_required(Cap.EDIT_CLINICAL)
@require_POST
def link_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    invitation = get_object_or_404(scoped(PromInvitation.objects, request.user, Cap.EDIT_CLINICAL), pk=pk)
    if invitation.state != "open":
        return redirect("proms:link_detail", pk=pk)
    if action == "revoke":
        links.revoke(invitation, reason="revoked by staff")
    elif action == "resend" and invitation.channel == PromInvitation.EMAIL:
        _queue_email(request, invitation, PromMessage.INVITATION)
    else:
        raise Http404("unknown action")
    return redirect("proms:link_detail", pk=pk)


@staff_required(Cap.VIEW_SITE_REPORTS)
def reports(request: HttpRequest) -> HttpResponse:
    from pdva.reports.services import snapshots

    # A stored snapshot of the viewer's sites (computed off the request, as the report pages are).
    site_ids = site_ids_for(request.user, Cap.VIEW_SITE_REPORTS)
    title = "PROM completion and change from baseline"
    if site_ids is not None and not site_ids:
        from pdva.proms.services.reports import prom_fragment_context

        empty = prom_fragment_context({"completion": [], "change": []})
        return render(request, "proms/reports.html", {**empty, "title": title, "snapshot": None})
    view = snapshots.latest(snapshots.prom_scope(site_ids))
    return render(
        request,
        "proms/reports.html" if view.ready else "reports/computing.html",
        {"title": title, "snapshot": view},
    )


@staff_required(Cap.VIEW_CLINICAL, Cap.ADMIN_REFERENCE)
@require_http_methods(["GET", "POST"])
def labels(request: HttpRequest) -> HttpResponse:
    """Which instruments have licensed wording loaded; system administrators load a registry-wide set."""
    can_load = site_ids_for(request.user, Cap.ADMIN_REFERENCE) is None
    form = LabelUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not can_load:
            return render(request, "proms/forbidden.html", {}, status=403)
        if form.is_valid():
            label_set = InstrumentLabelSet(
                instrument=form.cleaned_data["instrument"],
                licence_reference=form.cleaned_data["licence_reference"],
                labels=form.cleaned_data["labels_file"],
            )
            try:
                label_set.save(reason="licensed labels loaded")
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    form.add_error("labels_file" if field == "labels" else None, messages)
            else:
                return redirect("proms:labels")
    rows = []
    for code in ITEMS:
        q = questionnaire(code, None)
        rows.append({"name": q.name, "placeholder": q.placeholder, "licence": q.licence_reference})
    return render(request, "proms/labels.html", {"rows": rows, "form": form, "can_load": can_load})


# --- the patient's page: no sign-in, exactly the questionnaires of the link ------------------------------

GONE_MESSAGES = {
    "used": "This questionnaire has already been completed with this link. Thank you: there is nothing more to do.",
    "expired": "This link has expired. If you would still like to fill in the questionnaire, please contact your vascular team for a new link.",
    "revoked": "This link is no longer valid. Please use the most recent link your vascular team gave you.",
    "invalid": "This link is not recognised. Please check that the whole address was copied, or contact your vascular team.",
}


def _gone(request: HttpRequest, state: str) -> HttpResponse:
    status = 404 if state == "invalid" else 410
    return render(
        request, "proms/patient_gone.html", {"message": GONE_MESSAGES[state], "state": state}, status=status
    )


@require_http_methods(["GET", "POST"])
def patient_form(request: HttpRequest, token: str) -> HttpResponse:
    resolved = links.resolve(token)
    if resolved.state != "open" or resolved.invitation is None:
        return _gone(request, resolved.state)
    invitation = resolved.invitation
    site_id = invitation.patient.site_id
    questionnaires = [questionnaire(i, site_id) for i in invitation.instruments]
    errors: list[str] = []
    answers: dict[str, dict[str, int]] = {}
    if request.method == "POST":
        for q in questionnaires:
            answers[q.instrument] = {}
            for item in q.items:
                raw = request.POST.get(f"{q.instrument}__{item.code}", "").strip()
                if raw == "":
                    continue
                try:
                    answers[q.instrument][item.code] = int(raw)
                except ValueError:
                    errors.append(f"{q.name}: please give a whole number for {item.code}")
        if not errors:
            try:
                links.complete(invitation, answers)
            except links.LinkNotOpen as exc:
                return _gone(request, exc.state)
            except ValueError as exc:
                errors.append(str(exc))
            else:
                return render(request, "proms/patient_done.html", {})
    return render(
        request,
        "proms/patient_form.html",
        {
            "questionnaires": [
                {
                    "q": q,
                    "items": [
                        {"item": item, "selected": answers.get(q.instrument, {}).get(item.code)}
                        for item in q.items
                    ],
                }
                for q in questionnaires
            ],
            "errors": errors,
            "placeholder": any(q.placeholder for q in questionnaires),
            "expires": invitation.expires_at,
            "action": reverse("proms:patient_form", args=[token]),
        },
    )
