"""The case page (one index procedure and everything under it), sign-off and unlock."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from pdva.accounts.access import can
from pdva.accounts.roles import Cap
from pdva.capture.access import require_at, requires, visible_or_404
from pdva.capture.forms.workflow import SignOffForm, UnlockForm
from pdva.capture.kinds import KINDS
from pdva.capture.services.signoff import sign_off, sign_off_blockers, unlock
from pdva.capture.services.timeline import case_view, patient_queryset
from pdva.capture.views.records import form_context
from pdva.registry import models as m


@requires(Cap.VIEW_CLINICAL)
def case(request: HttpRequest, uuid: str) -> HttpResponse:
    procedure = visible_or_404(m.Procedure, request.user, uuid=uuid)
    patient = patient_queryset().get(pk=procedure.patient_id)
    procedure = next(p for p in patient.procedures.all() if p.pk == procedure.pk)
    view = case_view(patient, procedure)
    sections = []
    for slug in ("procedure", "baseline", "consent"):
        k = KINDS[slug]
        rec = procedure if slug == "procedure" else getattr(procedure, k.accessor, None)
        if rec is not None and rec.deleted_at is None:
            form = k.form(instance=rec, parent=k.parent_of(rec))
            sections.append(form_context(request, k, form, rec=rec, parent=k.parent_of(rec)))
        else:
            instance = k.model()
            k.attach(instance, procedure)
            form = k.form(instance=instance, parent=procedure)
            sections.append(form_context(request, k, form, rec=None, parent=procedure))
    site_id = patient.site_id
    context = {
        "patient": patient,
        "procedure": procedure,
        "case": view,
        "sections": sections,
        "can_edit": can(request.user, Cap.EDIT_CLINICAL, site_id),
        "can_sign": can(request.user, Cap.SIGN_OFF, site_id),
        "blockers": sign_off_blockers(procedure) if not procedure.locked_at else [],
        "lists": [
            (KINDS[slug], view.of_kind(slug)) for slug in ("visit", "adverse-event", "reintervention", "prom")
        ],
        "patient_uuid": patient.uuid,
    }
    return render(request, "capture/case.html", context)


@requires(Cap.SIGN_OFF)
@require_http_methods(["GET", "POST"])
def case_sign(request: HttpRequest, uuid: str) -> HttpResponse:
    procedure = visible_or_404(m.Procedure, request.user, uuid=uuid)
    require_at(request.user, Cap.SIGN_OFF, procedure.patient.site_id)
    blockers = sign_off_blockers(procedure)
    form = SignOffForm(request.POST or None, user=request.user)
    if request.method == "POST" and not blockers and form.is_valid():
        sign_off(procedure, request.user, method=form.method)
        messages.success(request, "Case signed and locked.")
        return redirect("capture:case", uuid=procedure.uuid)
    return render(request, "capture/sign.html", {"procedure": procedure, "form": form, "blockers": blockers})


@requires(Cap.SIGN_OFF)
@require_http_methods(["GET", "POST"])
def case_unlock(request: HttpRequest, uuid: str) -> HttpResponse:
    procedure = visible_or_404(m.Procedure, request.user, uuid=uuid)
    require_at(request.user, Cap.SIGN_OFF, procedure.patient.site_id)
    form = UnlockForm(request.POST or None, user=request.user)
    if not procedure.locked_at:
        messages.info(request, "The case is not locked.")
        return redirect("capture:case", uuid=procedure.uuid)
    if request.method == "POST" and form.is_valid():
        unlock(procedure, request.user, reason=form.cleaned_data["reason"], method=form.method)
        messages.success(
            request, "Case unlocked; the signature is void. Sign it again when the changes are made."
        )
        return redirect("capture:case", uuid=procedure.uuid)
    return render(request, "capture/unlock.html", {"procedure": procedure, "form": form})
