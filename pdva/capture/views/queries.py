"""Data queries: open on a record's field, answer, close."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from pdva.accounts.access import can, scoped
from pdva.accounts.roles import Cap
from pdva.capture.access import require_at, requires, visible_or_404
from pdva.capture.forms.workflow import AnswerQueryForm, CloseQueryForm, OpenQueryForm
from pdva.capture.models import DataQuery, QueryStatus
from pdva.capture.services.queries import answer_query, close_query, open_query
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
    can_answer = can(request.user, Cap.ANSWER_QUERY, site_id) and query.status != QueryStatus.CLOSED
    can_close = query.opened_by_id == request.user.pk and query.status != QueryStatus.CLOSED
    answer_form = AnswerQueryForm(request.POST if request.POST.get("action") == "answer" else None)
    close_form = CloseQueryForm(request.POST if request.POST.get("action") == "close" else None)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "answer":
            require_at(request.user, Cap.ANSWER_QUERY, site_id)
            if query.status == QueryStatus.CLOSED:
                return render(request, "capture/query_detail.html", {"query": query}, status=409)
            if answer_form.is_valid():
                answer_query(request.user, query, answer_form.cleaned_data["response"])
                messages.success(request, "Answer saved; the person who opened the query can now close it.")
                return redirect("capture:query", pk=query.pk)
        elif action == "close":
            if query.opened_by_id != request.user.pk:
                from django.core.exceptions import PermissionDenied

                raise PermissionDenied("Only the person who opened a query can close it.")
            if query.status == QueryStatus.CLOSED:
                return render(request, "capture/query_detail.html", {"query": query}, status=409)
            if close_form.is_valid():
                close_query(request.user, query, close_form.cleaned_data["close_note"])
                messages.success(request, "Query closed.")
                return redirect("capture:query", pk=query.pk)
        else:
            return render(request, "capture/query_detail.html", {"query": query}, status=400)
    k = _kind(query.record_kind)
    context = {
        "query": query,
        "kind": k,
        "answer_form": answer_form if can_answer else None,
        "close_form": close_form if can_close else None,
    }
    return render(request, "capture/query_detail.html", context)
