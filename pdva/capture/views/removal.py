"""Remove a record entered in error: a confirmation showing what goes, a required reason, then a
soft-delete (the audit history keeps it). Works as a page and as an htmx panel on the case page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from pdva.accounts.roles import Cap
from pdva.audit.models import ConcurrentEdit
from pdva.capture.access import is_data_manager_at, require_at, requires, visible_or_404
from pdva.capture.forms.workflow import RemoveForm
from pdva.capture.services.records import their_changes
from pdva.capture.services.removal import RemovalRefused, plan_removal, record_summary, remove
from pdva.capture.views.records import _kind, case_url
from pdva.registry import models as m


def _after_removal_url(rec: Any) -> str:
    """The page the record was on, now without it."""
    if isinstance(rec, m.Patient):
        return reverse("capture:patients")
    if isinstance(rec, m.Procedure):
        return reverse("capture:patient", args=[rec.patient.uuid])
    return case_url(rec).split("#")[0]


@requires(Cap.EDIT_CLINICAL)
@require_http_methods(["GET", "POST"])
def record_remove(request: HttpRequest, kind: str, uuid: str) -> HttpResponse:
    k = _kind(kind)
    if not k.removable:
        raise Http404("This record type is corrected by editing it, not removed")
    rec = visible_or_404(k.model, request.user, uuid=uuid)
    site_id = rec.audit_site_id()
    require_at(request.user, Cap.EDIT_CLINICAL, site_id)
    if k.removable == "data_manager" and not is_data_manager_at(request.user, site_id):
        raise PermissionDenied("Only the site's data manager can remove a whole case or patient.")
    plan = plan_removal(k, rec)
    form = RemoveForm(request.POST or None, initial={"version": rec.version})
    status = 200
    conflict: list[dict[str, Any]] = []
    if request.method == "POST":
        if plan.blockers:
            status = 409
        elif form.is_valid():
            since = form.cleaned_data.get("version") or rec.version
            try:
                remove(plan, reason=form.cleaned_data["reason"], version=since)
            except ConcurrentEdit:
                rec = k.model.objects.get(pk=rec.pk)
                conflict = their_changes(rec, since)
                data = request.POST.copy()
                data["version"] = str(rec.version)
                form = RemoveForm(data)
                form.add_error(
                    None,
                    "Someone changed this record after you opened this page, so nothing was removed. "
                    "Their changes are shown below; check them, then confirm again.",
                )
                plan = plan_removal(k, rec)
                status = 409
            except RemovalRefused as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                return _removed(request, k, rec)
    context = {
        "kind": k,
        "record": rec,
        "plan": plan,
        "summary": record_summary(k, rec),
        "form": form,
        "conflict": conflict,
        "back_url": case_url(rec),
        "action": reverse("capture:remove", args=[k.slug, rec.uuid]),
    }
    if request.htmx:
        # htmx swaps only 2xx responses: a refusal must still replace the panel so it is read.
        return render(request, "capture/_remove.html", context)
    return render(request, "capture/remove.html", context, status=status)


def _removed(request: HttpRequest, k: Any, rec: Any) -> HttpResponse:
    history = reverse("capture:history", args=[k.slug, rec.uuid])
    messages.success(
        request,
        format_html(
            'Removed: {} (entered in error). It is kept in the <a href="{}">audit history</a>.',
            k.title.lower(),
            history,
        ),
    )
    target = _after_removal_url(rec)
    if request.htmx:
        response = HttpResponse()
        response["HX-Redirect"] = target  # the whole page changes: timeline, lists and counts
        return response
    return redirect(target)
