"""Create, edit and read any case record, its live WIfI/GLASS stage and its audit history."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from pdva.accounts.access import can, site_ids_for
from pdva.accounts.roles import Cap
from pdva.capture.access import may_remove, require_at, requires, visible_or_404
from pdva.capture.forms.workflow import OpenQueryForm
from pdva.capture.kinds import KINDS, Kind
from pdva.capture.models import DataQuery
from pdva.capture.services.history import history
from pdva.capture.services.records import locking_procedure, save_form
from pdva.reference.glass import glass_stage, segment_grade
from pdva.reference.wifi import wifi_stage
from pdva.registry import models as m


def _kind(slug: str) -> Kind:
    if slug not in KINDS:
        raise Http404("No such record type")
    return KINDS[slug]


def case_url(rec: Any) -> str:
    """Where a record lives: its case page (procedure) or the patient page (or, when those were removed,
    the nearest page still there)."""
    if isinstance(rec, m.Procedure) and rec.deleted_at is None:
        return reverse("capture:case", args=[rec.uuid])
    procedure = rec if isinstance(rec, m.Procedure) else getattr(rec, "procedure", None)
    if procedure is not None and procedure.deleted_at is None:
        return reverse("capture:case", args=[procedure.uuid]) + f"#{_anchor(rec)}"
    patient = rec if isinstance(rec, m.Patient) else rec.patient
    if patient.deleted_at is not None:
        return reverse("capture:patients")
    return reverse("capture:patient", args=[patient.uuid])


def _anchor(rec: Any) -> str:
    return f"{type(rec).__name__.lower()}-{rec.uuid}"


def form_context(request: HttpRequest, kind: Kind, form: Any, *, rec: Any, parent: Any) -> dict[str, Any]:
    site_id = (rec or parent).audit_site_id() if (rec or parent) is not None else None
    locked = locking_procedure(rec) if rec is not None and rec.pk else None
    if rec is None and parent is not None:
        probe = kind.model()
        kind.attach(probe, parent)
        locked = locking_procedure(probe, creating=True, follow_up=kind.follow_up)
    can_edit = can(request.user, Cap.EDIT_CLINICAL, site_id) and locked is None
    if rec is not None and rec.pk:
        action = reverse("capture:record", args=[kind.slug, rec.uuid])
    else:
        action = reverse("capture:record_new", args=[kind.slug, parent.uuid])
    return {
        "kind": kind,
        "form": form,
        "record": rec if rec is not None and rec.pk else None,
        "parent": parent,
        "action": action,
        "can_edit": can_edit,
        "locked_by": locked,
        "section_id": f"section-{kind.slug}" + (f"-{rec.uuid}" if rec is not None and rec.pk else "-new"),
        "may_remove": locked is None
        and rec is not None
        and rec.pk is not None
        and may_remove(request.user, kind, site_id),
        "is_baseline": kind.slug == "baseline",
        "stage": baseline_stage_context(form.instance) if kind.slug == "baseline" else None,
    }


def _parent(kind: Kind, user: Any, parent_uuid: str) -> Any:
    if kind.parent == "procedure":
        if kind.patient_level and not m.Procedure.objects.filter(uuid=parent_uuid).exists():
            return visible_or_404(m.Patient, user, uuid=parent_uuid)
        return visible_or_404(m.Procedure, user, uuid=parent_uuid)
    if kind.parent == "patient":
        return visible_or_404(m.Patient, user, uuid=parent_uuid)
    raise Http404("This record type is not created here")


def parent_url(parent: Any) -> str:
    if isinstance(parent, m.Procedure):
        return reverse("capture:case", args=[parent.uuid])
    if isinstance(parent, m.Patient):
        return reverse("capture:patient", args=[parent.uuid])
    return reverse("capture:patients")


def _respond(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    if request.htmx:
        # htmx swaps only 2xx responses: the refused form (with its errors) must replace the old one.
        return render(request, "capture/_record_form.html", context)
    return render(request, "capture/record_form.html", context, status=status)


@requires(Cap.VIEW_CLINICAL)
@require_http_methods(["GET", "POST"])
def record_new(request: HttpRequest, kind: str, parent: str) -> HttpResponse:
    k = _kind(kind)
    owner = _parent(k, request.user, parent)
    require_at(request.user, Cap.EDIT_CLINICAL, owner.audit_site_id())
    removed = None
    if k.single and getattr(owner, k.accessor, None) is not None:
        existing = getattr(owner, k.accessor)
        if existing.deleted_at is None:
            return redirect("capture:record", kind=k.slug, uuid=existing.uuid)
        removed = existing  # removed as entered in error: the new entry takes over its row
    instance = k.model()
    k.attach(instance, owner)
    if k.patient_level and isinstance(owner, m.Patient):
        instance.procedure = None
    form = k.form(request.POST or None, instance=instance, parent=owner)
    if request.method == "POST" and form.is_valid():
        outcome = save_form(form, creating=True, follow_up=k.follow_up, replaces=removed)
        if outcome.saved:
            return _after_save(request, k, form.instance, created=True)
    context = form_context(request, k, form, rec=None, parent=owner)
    context["back_url"] = parent_url(owner)
    refused = request.method == "POST" and context["locked_by"] is not None
    return _respond(request, context, status=409 if refused else 200)


def _after_save(request: HttpRequest, k: Kind, rec: Any, *, created: bool) -> HttpResponse:
    verb = "Saved" if created else "Changes saved"
    if request.htmx:
        fresh = k.model.objects.get(pk=rec.pk)
        form = k.form(instance=fresh, parent=k.parent_of(fresh))
        context = form_context(request, k, form, rec=fresh, parent=k.parent_of(fresh))
        context["saved_message"] = f"{verb}: {k.title.lower()}."
        response = render(request, "capture/_record_form.html", context)
        if created and "/new/" in request.headers.get("HX-Current-URL", ""):
            # On the stand-alone "new" page, the address becomes the record's, so a reload cannot re-create it.
            response["HX-Push-Url"] = reverse("capture:record", args=[k.slug, fresh.uuid])
        return response
    messages.success(request, f"{verb}: {k.title.lower()}.")
    return redirect(case_url(rec))


@requires(Cap.VIEW_CLINICAL)
@require_http_methods(["GET", "POST"])
def record(request: HttpRequest, kind: str, uuid: str) -> HttpResponse:
    k = _kind(kind)
    rec = visible_or_404(k.model, request.user, uuid=uuid, include_removed=True)
    if rec.deleted_at is not None:
        # Gone from the case, but not erased: say so, and where its history is.
        return render(
            request, "capture/removed.html", {"kind": k, "record": rec, "case_url": case_url(rec)}, status=410
        )
    parent = k.parent_of(rec)
    if request.method == "POST":
        require_at(request.user, Cap.EDIT_CLINICAL, rec.audit_site_id())
        form = k.form(request.POST, instance=rec, parent=parent)
        if form.is_valid():
            outcome = save_form(form, creating=False, follow_up=k.follow_up)
            if outcome.saved:
                return _after_save(request, k, form.instance, created=False)
        context = form_context(request, k, form, rec=rec, parent=parent)
        status = 409 if form.conflict or context["locked_by"] else 200
        return _respond(request, {**context, **_record_extras(request, k, rec)}, status=status)
    form = k.form(instance=rec, parent=parent)
    context = form_context(request, k, form, rec=rec, parent=parent)
    return _respond(request, {**context, **_record_extras(request, k, rec)})


def _record_extras(request: HttpRequest, k: Kind, rec: Any) -> dict[str, Any]:
    site_id = rec.audit_site_id()
    queries = (
        DataQuery.objects.alive().filter(record_uuid=rec.uuid).select_related("opened_by", "answered_by")
    )
    field_choices = [
        (n, str(f.label)) for n, f in k.form(instance=rec).fields.items() if n not in k.form.control_names
    ]
    return {
        "queries": list(queries),
        "query_form": OpenQueryForm(field_choices=field_choices)
        if can(request.user, Cap.RAISE_QUERY, site_id)
        else None,
        "case_url": case_url(rec),
        "back_url": case_url(rec),
    }


@requires(Cap.VIEW_CLINICAL)
@require_GET
def record_history(request: HttpRequest, kind: str, uuid: str) -> HttpResponse:
    k = _kind(kind)
    rec = visible_or_404(k.model, request.user, uuid=uuid, include_removed=True)
    rows = history(rec, site_ids_for(request.user, Cap.VIEW_CLINICAL))
    return render(
        request, "capture/history.html", {"kind": k, "record": rec, "rows": rows, "case_url": case_url(rec)}
    )


def _param(request: HttpRequest, name: str) -> str:
    """A stage input, whether or not the form that sent it used a prefix (e.g. baseline-wifi_w)."""
    for key, value in request.GET.items():
        if key == name or key.endswith(f"-{name}"):
            return value
    return ""


def _grade(request: HttpRequest, name: str, top: int) -> int | None:
    raw = _param(request, name)
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 <= value <= top else None


def stage_context(
    w: int | None,
    i: int | None,
    fi: int | None,
    fp: int | None,
    ip: int | None,
    *,
    unsalvageable: bool = False,
    fp_calcified: bool = False,
    ip_calcified: bool = False,
) -> dict[str, Any]:
    """What the stage box shows: WIfI and GLASS stages with the lookup cell and its verification status."""
    context: dict[str, Any] = {"unsalvageable": unsalvageable}
    if None not in (w, i, fi):
        result = wifi_stage(w, i, fi)  # type: ignore[arg-type]
        context.update(
            wifi=result, wifi_cell=f"W{w}-I{i}-fI{fi}", wifi_status=result.status.replace("_", " ")
        )
    if fp is not None and ip is not None:
        fp_eff = segment_grade(fp, severe_calcification=fp_calcified)
        ip_eff = segment_grade(ip, severe_calcification=ip_calcified)
        glass = glass_stage(fp_eff, ip_eff)
        context.update(
            glass=glass, glass_cell=f"FP{fp_eff}-IP{ip_eff}", glass_status=glass.status.replace("_", " ")
        )
    return context


def baseline_stage_context(baseline: m.Baseline) -> dict[str, Any]:
    return stage_context(
        baseline.wifi_w,
        baseline.wifi_i,
        baseline.wifi_fi,
        baseline.glass_fp_grade,
        baseline.glass_ip_grade,
        unsalvageable=baseline.unsalvageable,
        fp_calcified=baseline.glass_fp_severe_calcification,
        ip_calcified=baseline.glass_ip_severe_calcification,
    )


@requires(Cap.VIEW_CLINICAL)
@require_GET
def stage_preview(request: HttpRequest) -> HttpResponse:
    """Live WIfI and GLASS stage while the grades are entered, with the lookup cell's verification status."""
    context = stage_context(
        _grade(request, "wifi_w", 3),
        _grade(request, "wifi_i", 3),
        _grade(request, "wifi_fi", 3),
        _grade(request, "glass_fp_grade", 4),
        _grade(request, "glass_ip_grade", 4),
        unsalvageable=_param(request, "unsalvageable") in ("on", "true", "1"),
        fp_calcified=_param(request, "glass_fp_severe_calcification") == "on",
        ip_calcified=_param(request, "glass_ip_severe_calcification") == "on",
    )
    return render(request, "capture/_stage.html", context)
