"""The REST API (django-ninja): read access to the registry for sites and integrations, as the token's owner.

Every route is scoped exactly as the web app (pdva.accounts.access, failing closed); a record at another site
is a 404, never its data. Lists are paginated (limit/offset). Errors share one body (pdva.api.errors)."""

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, NinjaAPI, Query, Router, Schema
from ninja import Status as Reply
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import LimitOffsetPagination, paginate

from pdva.accounts.access import can, scoped, site_ids_for
from pdva.accounts.roles import Cap
from pdva.api import schemas as s
from pdva.api.auth import TokenAuth
from pdva.api.errors import ERROR_RESPONSES, ApiError, body
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry, ConcurrentEdit, ReasonRequired
from pdva.core.paging import CountedRows
from pdva.followup.lib.schedule import Status
from pdva.registry import models as m

MAX_PAGE = 500
MAX_OFFSET = 2**31 - 1

api = NinjaAPI(
    title="pDVA Registry API",
    version="1",
    description="Pseudonymous registry data for sites and integrations. Authenticate with a personal API token "
    "(`Authorization: Bearer pdva_…`); you see exactly what your role and sites allow in the web app.",
    auth=TokenAuth(),
    urls_namespace="pdva-api-v1",
)


def _respond(
    request: HttpRequest, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> HttpResponse:
    response = api.create_response(request, payload, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _respond(request, exc.status, body(exc.code, exc.message, exc.fields), exc.headers)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _respond(
        request, 401, body("unauthenticated", "send a personal API token: Authorization: Bearer <token>")
    )


@api.exception_handler(NinjaValidationError)
def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body", "payload")]
        fields.setdefault(".".join(loc) or "request", []).append(str(error.get("msg", "invalid")))
    return _respond(request, 422, body("invalid_request", "the request has invalid parameters", fields))


@api.exception_handler(DjangoValidationError)
def _model_invalid(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"request": exc.messages}
    return _respond(request, 422, body("invalid", "the record failed validation", fields))


@api.exception_handler(ReasonRequired)
def _reason_required(request: HttpRequest, exc: ReasonRequired) -> HttpResponse:
    return _respond(request, 422, body("invalid_request", str(exc), {"reason": [str(exc)]}))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _respond(request, 404, body("not_found", "no such record, or not at a site you can see"))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _respond(request, exc.status_code, body("error", str(exc)))


def acting(cap: Cap) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the view as the token's owner (audit context) after checking the capability somewhere."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            user = request.auth.user  # type: ignore[attr-defined]
            if not can(user, cap):
                raise ApiError(403, "forbidden", f"your role does not allow this ({cap.value})")
            with audit_context(user, reason="API request"):
                return view(request, *args, **kwargs)

        return wrapper

    return decorate


class Pages(LimitOffsetPagination):
    """limit/offset pagination with bounds (an unbounded offset overflowed SQLite: found by schemathesis)."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=MAX_PAGE)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)


def _user(request: HttpRequest) -> Any:
    return request.auth.user  # type: ignore[attr-defined]


class SiteFilter(Schema):
    # An ODS code. Constrained so malformed text (e.g. NUL bytes, which PostgreSQL refuses) is a 422 here.
    site: str | None = Field(None, pattern=r"^[A-Za-z0-9]{3,5}$", description="ODS code of a site")


class ChildFilter(SiteFilter):
    procedure: uuid.UUID | None = None


class PatientChildFilter(SiteFilter):
    patient: uuid.UUID | None = None


def _by_site(qs: Any, site: str | None) -> Any:
    if site:
        qs = qs.filter(**{f"{qs.model.site_path}__ods_code": site.strip().upper()})
    return qs


def _clinical(request: HttpRequest, model: type) -> Any:
    return scoped(model.objects, _user(request), Cap.VIEW_CLINICAL)


def _list(schema: type) -> dict[int, Any]:
    return {200: list[schema], **ERROR_RESPONSES}  # type: ignore[valid-type]


def _one(schema: type) -> dict[int, Any]:
    return {200: schema, **ERROR_RESPONSES}


patients = Router(tags=["patients"])
procedures = Router(tags=["procedures"])
followups = Router(tags=["follow-up"])
events = Router(tags=["events"])
proms = Router(tags=["PROMs"])
worklists = Router(tags=["worklists"])
summaries = Router(tags=["summaries"])


@patients.get("", response=_list(s.PatientOut), summary="Patients at your sites")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_patients(request: HttpRequest, filters: Query[SiteFilter]) -> Any:
    qs = _clinical(request, m.Patient).select_related("site", "death").order_by("id")
    return _by_site(qs, filters.site)


@patients.get("/{patient_id}", response=_one(s.PatientOut), summary="One patient")
@acting(Cap.VIEW_CLINICAL)
def get_patient(request: HttpRequest, patient_id: uuid.UUID) -> Any:
    return get_object_or_404(_clinical(request, m.Patient).select_related("site", "death"), uuid=patient_id)


@procedures.get("", response=_list(s.ProcedureOut), summary="Index procedures at your sites")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_procedures(request: HttpRequest, filters: Query[PatientChildFilter]) -> Any:
    qs = _clinical(request, m.Procedure).select_related("patient__site", "operator").order_by("id")
    if filters.patient:
        qs = qs.filter(patient__uuid=filters.patient)
    return _by_site(qs, filters.site)


@procedures.get("/{procedure_id}", response=_one(s.ProcedureOut), summary="One procedure")
@acting(Cap.VIEW_CLINICAL)
def get_procedure(request: HttpRequest, procedure_id: uuid.UUID) -> Any:
    qs = _clinical(request, m.Procedure).select_related("patient__site", "operator")
    return get_object_or_404(qs, uuid=procedure_id)


def _procedure_children(request: HttpRequest, model: type, filters: ChildFilter) -> Any:
    qs = (
        _clinical(request, model)
        .filter(procedure__deleted_at__isnull=True)
        .select_related("procedure")
        .order_by("id")
    )
    if filters.procedure:
        qs = qs.filter(procedure__uuid=filters.procedure)
    return _by_site(qs, filters.site)


def _patient_children(request: HttpRequest, model: type, filters: PatientChildFilter, *related: str) -> Any:
    qs = _clinical(request, model).select_related("patient", *related).order_by("id")
    if filters.patient:
        qs = qs.filter(patient__uuid=filters.patient)
    return _by_site(qs, filters.site)


@followups.get("", response=_list(s.FollowUpOut), summary="Follow-up visits")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_followups(request: HttpRequest, filters: Query[ChildFilter]) -> Any:
    return _procedure_children(request, m.FollowUpVisit, filters)


@followups.get("/{visit_id}", response=_one(s.FollowUpOut), summary="One follow-up visit")
@acting(Cap.VIEW_CLINICAL)
def get_followup(request: HttpRequest, visit_id: uuid.UUID) -> Any:
    return get_object_or_404(_clinical(request, m.FollowUpVisit).select_related("procedure"), uuid=visit_id)


# --- writes: the same audited, versioned model saves as the web app ------------------------------------


def _editable(request: HttpRequest, model: type) -> Any:
    return scoped(model.objects, _user(request), Cap.EDIT_CLINICAL).filter(deleted_at__isnull=True)


def _write_responses(status: int) -> dict[int, Any]:
    return {status: s.FollowUpOut, 409: s.ConflictOut, **ERROR_RESPONSES}


def _conflict(request: HttpRequest, obj: Any, code: str, message: str, theirs: list[dict[str, Any]]) -> Any:
    payload = {"error": {"code": code, "message": message, "fields": {}}}
    return _respond(request, 409, {**payload, "current_version": obj.version, "theirs": theirs})


def their_changes(obj: Any, since_version: int) -> list[dict[str, Any]]:
    """Saved edits after ``since_version``, from the audit log: who, when, why and each field's from/to."""
    own = f"{obj._meta.app_label}.{obj._meta.model_name}."
    entries = [
        e
        for e in AuditEntry.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by(
            "seq"
        )
        if e.action.startswith(own) and not e.action.endswith(".created")
    ]
    out = []
    for n, entry in enumerate(entries, start=2):  # the first edit made version 2
        if n <= since_version:
            continue
        before, after = entry.before or {}, entry.after or {}
        out.append(
            {
                "version": n,
                "by": entry.actor_label,
                "at": entry.timestamp,
                "reason": entry.reason,
                "changes": {
                    k: {"from": before.get(k), "to": after.get(k)} for k in sorted(set(before) | set(after))
                },
            }
        )
    return out


def _locked(obj: Any, *, creating: bool) -> Any:
    from pdva.capture.services.records import locking_procedure

    return locking_procedure(obj, creating=creating)


@followups.post("", response=_write_responses(201), summary="Record a follow-up visit")
@acting(Cap.EDIT_CLINICAL)
def create_followup(request: HttpRequest, payload: s.FollowUpIn) -> Any:
    procedure = get_object_or_404(
        _editable(request, m.Procedure).select_related("patient"), uuid=payload.procedure
    )
    visit = m.FollowUpVisit(
        procedure=procedure, **payload.model_dump(exclude_none=True, exclude={"procedure"})
    )
    locked = _locked(visit, creating=True)
    if locked is not None:
        return _conflict(request, visit, "locked", "the case is signed off and locked", [])
    visit.save()
    return Reply(201, visit)


@followups.patch("/{visit_id}", response=_write_responses(200), summary="Change a follow-up visit")
@acting(Cap.EDIT_CLINICAL)
def update_followup(request: HttpRequest, visit_id: uuid.UUID, payload: s.FollowUpPatch) -> Any:
    """Send the ``version`` you loaded and a ``reason``: if someone saved the visit since, nothing is changed
    and the answer is a 409 listing their changes."""
    visit = get_object_or_404(
        _editable(request, m.FollowUpVisit)
        .filter(procedure__deleted_at__isnull=True)
        .select_related("procedure__patient"),
        uuid=visit_id,
    )
    if _locked(visit, creating=False) is not None:
        return _conflict(request, visit, "locked", "the case is signed off and locked", [])
    if payload.version != visit.version:
        return _conflict(
            request,
            visit,
            "version_conflict",
            f"the visit was changed since version {payload.version}: review their changes and try again",
            their_changes(visit, payload.version),
        )
    changes = payload.model_dump(exclude_unset=True, exclude={"version", "reason"})
    empty = [
        name for name, value in changes.items() if value is None and not visit._meta.get_field(name).null
    ]
    if empty:
        raise ApiError(
            422, "invalid_request", "these fields cannot be emptied", fields={n: ["required"] for n in empty}
        )
    for name, value in changes.items():
        setattr(visit, name, value)
    try:
        visit.save(reason=payload.reason)
    except ConcurrentEdit:
        current = m.FollowUpVisit.objects.get(pk=visit.pk)
        return _conflict(
            request,
            current,
            "version_conflict",
            f"the visit was changed since version {payload.version}: review their changes and try again",
            their_changes(current, payload.version),
        )
    return Reply(200, visit)


@events.get("/adverse-events", response=_list(s.AdverseEventOut), summary="Adverse events")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_adverse_events(request: HttpRequest, filters: Query[ChildFilter]) -> Any:
    return _procedure_children(request, m.AdverseEvent, filters)


@events.get("/reinterventions", response=_list(s.ReinterventionOut), summary="Reinterventions")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_reinterventions(request: HttpRequest, filters: Query[ChildFilter]) -> Any:
    return _procedure_children(request, m.Reintervention, filters)


@events.get("/amputations", response=_list(s.AmputationOut), summary="Amputations")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_amputations(request: HttpRequest, filters: Query[PatientChildFilter]) -> Any:
    return _patient_children(request, m.Amputation, filters)


@events.get("/deaths", response=_list(s.DeathOut), summary="Deaths")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_deaths(request: HttpRequest, filters: Query[PatientChildFilter]) -> Any:
    return _patient_children(request, m.Death, filters)


@proms.get("", response=_list(s.PromOut), summary="PROM administrations (item codes and levels only)")
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def list_proms(request: HttpRequest, filters: Query[PatientChildFilter]) -> Any:
    return _patient_children(request, m.PromAdministration, filters, "procedure")


WorklistStatus = Literal[tuple(str(x) for x in Status)]  # type: ignore[valid-type]


class WorklistFilter(SiteFilter):
    status: list[WorklistStatus] = ["due", "overdue"]  # type: ignore[valid-type]


@worklists.get(
    "/followups", response=_list(s.WorklistItemOut), summary="Follow-up time points due, overdue or missed"
)
@paginate(Pages)
@acting(Cap.VIEW_CLINICAL)
def followup_worklist(request: HttpRequest, filters: Query[WorklistFilter]) -> Any:
    from pdva.followup.lib.schedule import Status
    from pdva.followup.services.worklist import count as engine_count
    from pdva.followup.services.worklist import worklist as engine_worklist

    allowed = {str(x) for x in Status}
    unknown = [x for x in filters.status if x not in allowed]
    if unknown:
        raise ApiError(
            422, "invalid_request", "unknown status", fields={"status": [f"unknown: {', '.join(unknown)}"]}
        )
    site_ids = _site_ids(request, Cap.VIEW_CLINICAL, filters.site)
    # The stored statuses (pdva.followup, kept by the daily run and by saves), counted and sliced in the
    # database: computing every time point of the sites per request grew with the cohort.
    today = dt.date.today()
    rows = engine_worklist(site_ids, today, filters.status)
    return _WorklistPage(rows, engine_count(site_ids, today, filters.status))


class _WorklistPage(CountedRows):
    """The stored worklist rows, one page turned into the API's items (labels in one query per page)."""

    def __getitem__(self, index: Any) -> Any:
        from pdva.followup.services.worklist import as_items

        return [
            {
                "procedure": item.procedure_uuid,
                "patient_registry_id": item.patient_registry_id,
                "site": item.site_ods_code,
                "index_limb": item.index_limb,
                "procedure_date": item.procedure_date,
                "timepoint": item.timepoint,
                "year": item.year,
                "label": item.label,
                "window_start": item.window_start,
                "due_date": item.due_date,
                "window_end": item.window_end,
                "status": item.status,
                "visit_date": item.visit_date,
            }
            for item in as_items(self.rows[index])
        ]


def _site_ids(request: HttpRequest, cap: Cap, site: str | None) -> list[int]:
    ids = site_ids_for(_user(request), cap)
    qs = m.Site.objects.all() if ids is None else m.Site.objects.filter(pk__in=ids)
    if site:
        qs = qs.filter(ods_code=site.strip().upper())
    return list(qs.values_list("id", flat=True))


@summaries.get("/endpoints", response=_one(s.EndpointSummaryOut), summary="Endpoint estimates for your sites")
@acting(Cap.VIEW_SITE_REPORTS)
def endpoint_summary(request: HttpRequest, filters: Query[SiteFilter]) -> Any:
    """The same figures, and the same small-number suppression, as the report pages show this user."""
    from pdva.outcomes.load import analyse
    from pdva.outcomes.suppress import suppress_table
    from pdva.reports.services.disclosure import suppresses_small_numbers

    site_ids = _site_ids(request, Cap.VIEW_SITE_REPORTS, filters.site)
    cutoff = dt.date.today()
    rows: list[dict[str, Any]] = []
    if site_ids:
        table = analyse(site_ids, cutoff, strata=["all"]).table
        if suppresses_small_numbers(_user(request)):
            table = suppress_table(table)
        for rec in table.to_dict("records"):
            rows.append(
                {
                    "endpoint": str(rec.get("endpoint", "")),
                    "label": str(rec.get("label", "")),
                    "kind": str(rec.get("kind", "")),
                    "timepoint": None if rec.get("timepoint") is None else str(rec.get("timepoint")),
                    "day": s.finite(rec.get("day")),
                    "n": s.whole(rec.get("n")),
                    "n_risk": s.whole(rec.get("n_risk")),
                    "events": s.whole(rec.get("events")),
                    "estimate": s.finite(rec.get("estimate")),
                    "lower": s.finite(rec.get("lower")),
                    "upper": s.finite(rec.get("upper")),
                    "suppressed": bool(rec.get("suppressed", False)),
                }
            )
    return {
        "sites": sorted(m.Site.objects.filter(pk__in=site_ids).values_list("ods_code", flat=True)),
        "data_cutoff": cutoff,
        "definitions": "pdva.outcomes (statistical analysis plan definitions)",
        "rows": rows,
    }


api.add_router("/patients", patients)
api.add_router("/procedures", procedures)
api.add_router("/followups", followups)
api.add_router("/events", events)
api.add_router("/proms", proms)
api.add_router("/worklists", worklists)
api.add_router("/summaries", summaries)
