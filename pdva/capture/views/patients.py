"""Find, register and view a patient."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from pdva.accounts.access import can, scoped, site_ids_for, sites_for
from pdva.accounts.roles import Cap
from pdva.capture.access import may_remove, requires, visible_or_404
from pdva.capture.forms.patients import RegisterForm, SearchForm
from pdva.capture.kinds import KINDS
from pdva.capture.services.patients import duplicates, register_patient, search_patients
from pdva.capture.services.timeline import case_view, patient_queryset
from pdva.registry import models as m


@requires(Cap.VIEW_CLINICAL)
def patient_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    message = ""
    if form.is_bound and form.is_valid() and form.cleaned_data["q"]:
        patients, message = search_patients(request.user, form.cleaned_data["q"])
        searched = True
    else:
        patients = (
            scoped(m.Patient.objects, request.user, Cap.VIEW_CLINICAL)
            .select_related("site")
            .order_by("-created_at", "-id")
        )
        searched = False
    page = Paginator(patients, 25).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "searched": searched,
        "message": message,
        "can_register": can(request.user, Cap.EDIT_CLINICAL) and can(request.user, Cap.VIEW_IDENTIFIERS),
    }
    return render(request, "capture/patient_list.html", context)


@requires(Cap.EDIT_CLINICAL)
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    user = request.user
    edit_ids = site_ids_for(user, Cap.EDIT_CLINICAL)
    ident_ids = site_ids_for(user, Cap.VIEW_IDENTIFIERS)
    sites = sites_for(user, Cap.EDIT_CLINICAL)
    if ident_ids is not None:
        sites = sites.filter(pk__in=ident_ids & (edit_ids if edit_ids is not None else ident_ids))
    if not sites.exists():
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(
            "Registering a patient needs clinical editing and identifier access at a site."
        )
    form = RegisterForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        here, elsewhere = duplicates(data["nhs_number"], data["site"].pk)
        if here is not None:
            form.duplicate_here = here
            form.add_error(
                "nhs_number", f"This NHS number is already registered at this site as {here.registry_id}."
            )
        elif elsewhere and not data.get("confirm_other_site"):
            form.duplicate_elsewhere = True
            form.add_error(
                "confirm_other_site",
                "A patient with this NHS number is registered at another site. If this is the same person treated "
                "here too, tick this box to register them at this site as well.",
            )
        else:
            patient = register_patient(user, {**data, "registered_elsewhere": elsewhere})
            messages.success(request, f"Registered {patient.registry_id}. Now add the index procedure.")
            return redirect("capture:record_new", kind="procedure", parent=patient.uuid)
    return render(request, "capture/register.html", {"form": form})


@requires(Cap.VIEW_CLINICAL)
def patient_detail(request: HttpRequest, uuid: str) -> HttpResponse:
    patient = visible_or_404(m.Patient, request.user, uuid=uuid)
    patient = patient_queryset().get(pk=patient.pk)
    identity = None
    if can(request.user, Cap.VIEW_IDENTIFIERS, patient.site_id):
        identity = m.PatientIdentity.objects.filter(patient=patient, deleted_at__isnull=True).first()
    cases = [case_view(patient, p) for p in patient.procedures.all()]
    other_amputations = [
        a
        for a in patient.amputations.all()
        if a.deleted_at is None and a.limb not in {c.procedure.index_limb for c in cases}
    ]
    removed_cases = m.Procedure.objects.filter(patient=patient, deleted_at__isnull=False).order_by(
        "deleted_at"
    )
    context = {
        "patient": patient,
        "identity": identity,
        "cases": cases,
        "other_amputations": other_amputations,
        "removed_cases": list(removed_cases),
        "may_remove_patient": may_remove(request.user, KINDS["patient"], patient.site_id)
        and not any(p.locked_at for p in patient.procedures.all()),
        "can_edit": can(request.user, Cap.EDIT_CLINICAL, patient.site_id),
        "death": patient.death
        if getattr(patient, "death", None) and patient.death.deleted_at is None
        else None,
    }
    return render(request, "capture/patient_detail.html", context)
