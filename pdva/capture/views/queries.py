"""Data queries: open on a record's field, answer, close."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from pdva.accounts.access import can, scoped
from pdva.accounts.roles import Cap
from pdva.audit.models import ConcurrentEdit
from pdva.capture.access import require_at, requires, visible_or_404
from pdva.capture.forms.workflow import AnswerQueryForm, CloseQueryForm, OpenQueryForm
from pdva.capture.models import DataQuery, QueryStatus
from pdva.capture.services.queries import answer_query, close_query, open_query
from pdva.capture.services.records import their_changes
from pdva.capture.views.records import _kind


@requires(Cap.VIEW_CLINICAL)
def query_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    qs = scoped(DataQuery.objects, request.user, Cap.VIEW_CLINICAL).select_related("patient", "opened_by")
    if status == "open":
        qs = qs.exclude(status=QueryStatus.CLOSED)
    return render(request, "capture/query_list.html", {"queries": qs[:500], "status": status})


@requires(Cap.RAISE_QUERY)
@require_POST
def query_new(request: HttpRequest, kind: str, uuid: str) -> HttpResponse:
    k = _kind(kind)
    rec = visible_or_404(k.model, request.user, uuid=uuid)
    require_at(request.user, Cap.RAISE_QUERY, rec.audit_site_id())
    choices = [
        (n, str(f.label)) for n, f in k.form(instance=rec).fields.items() if n not in k.form.control_names
    ]
    form = OpenQueryForm(request.POST, field_choices=choices)
    if form.is_valid():
        query = open_query(
            request.user,
            k,
            rec,
            field_name=form.cleaned_data["field_name"],
            question=form.cleaned_data["question"],
        )
        messages.success(request, "Query opened; the site will see it on its worklist.")
        return redirect("capture:query", pk=query.pk)
    messages.error(request, "Write the question for the site.")
    return redirect("capture:record", kind=k.slug, uuid=rec.uuid)


@requires(Cap.VIEW_CLINICAL)
@require_http_methods(["GET", "POST"])
def query_detail(request: HttpRequest, pk: int) -> HttpResponse:
    query = visible_or_404(DataQuery, request.user, pk=pk)
    site_id = query.patient.site_id
    action = request.POST.get("action") if request.method == "POST" else None
    answer_form = AnswerQueryForm(
        request.POST if action == "answer" else None, initial={"version": query.version}
    )
    close_form = CloseQueryForm(
        request.POST if action == "close" else None, initial={"version": query.version}
    )
    status = 200
    conflict: dict[str, Any] | None = None
    if request.method == "POST":
        if action == "answer":
            require_at(request.user, Cap.ANSWER_QUERY, site_id)
            if query.status == QueryStatus.CLOSED:
                return _closed_meanwhile(request, query, request.POST.get("response", ""))
            if answer_form.is_valid():
                since = answer_form.cleaned_data.get("version")
                try:
                    answer_query(request.user, query, answer_form.cleaned_data["response"], version=since)
                except ConcurrentEdit:
                    query, conflict = _refused(query, since)
                    answer_form = _rebound(AnswerQueryForm, request, query)
                    status = 409
                else:
                    messages.success(
                        request, "Answer saved; the person who opened the query can now close it."
                    )
                    return redirect("capture:query", pk=query.pk)
        elif action == "close":
            if query.opened_by_id != request.user.pk:
                raise PermissionDenied("Only the person who opened a query can close it.")
            if query.status == QueryStatus.CLOSED:
                return _closed_meanwhile(request, query, request.POST.get("close_note", ""))
            if close_form.is_valid():
                since = close_form.cleaned_data.get("version")
                try:
                    close_query(request.user, query, close_form.cleaned_data["close_note"], version=since)
                except ConcurrentEdit:
                    query, conflict = _refused(query, since)
                    close_form = _rebound(CloseQueryForm, request, query)
                    status = 409
                else:
                    messages.success(request, "Query closed.")
                    return redirect("capture:query", pk=query.pk)
        else:
            return render(request, "capture/query_detail.html", {"query": query}, status=400)
    open_ = query.status != QueryStatus.CLOSED
    context = {
        "query": query,
        "kind": _kind(query.record_kind),
        "answer_form": answer_form if open_ and can(request.user, Cap.ANSWER_QUERY, site_id) else None,
        "close_form": close_form if open_ and query.opened_by_id == request.user.pk else None,
        "conflict": conflict,
    }
    return render(request, "capture/query_detail.html", context, status=status)


def _closed_meanwhile(request: HttpRequest, query: DataQuery, unsaved: str) -> HttpResponse:
    """A closed query takes no more answers: show who closed it and what they wrote, and the text that
    was not saved (so it is not lost)."""
    try:
        since = int(request.POST.get("version", ""))
    except ValueError:
        since = query.version
    query, conflict = _refused(query, since)
    context = {"query": query, "kind": _kind(query.record_kind), "conflict": conflict, "unsaved": unsaved}
    return render(request, "capture/query_detail.html", context, status=409)


def _refused(query: DataQuery, since: int | None) -> tuple[DataQuery, dict[str, Any]]:
    """The query as it is now, and what others did to it since the user's page was loaded."""
    fresh = DataQuery.objects.select_related("answered_by", "closed_by").get(pk=query.pk)
    return fresh, {"edits": their_changes(fresh, since or 1), "query": fresh}


def _rebound(form_cls: type[forms.Form], request: HttpRequest, query: DataQuery) -> forms.Form:
    """The user's text kept, now against the current version, with the refusal at the top."""
    data = request.POST.copy()
    data["version"] = str(query.version)
    form = form_cls(data)
    form.add_error(
        None,
        "Not saved: someone else changed this query after you opened it. Read what they wrote (shown "
        "above); your text is kept below, so you can save it again if it still applies.",
    )
    return form
