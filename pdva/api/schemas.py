"""What the API returns: pseudonymous clinical records (no identifiers), keyed by stable UUIDs."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict


class PatientOut(Schema):
    id: uuid.UUID
    registry_id: str
    site: str
    sex: str
    ethnicity: str
    imd_decile: int | None
    national_data_opt_out: bool
    withdrawn_date: dt.date | None
    date_of_death: dt.date | None

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        return obj.uuid

    @staticmethod
    def resolve_site(obj: Any) -> str:
        return obj.site.ods_code

    @staticmethod
    def resolve_date_of_death(obj: Any) -> dt.date | None:
        return obj.date_of_death


class ProcedureOut(Schema):
    id: uuid.UUID
    patient: uuid.UUID
    site: str
    index_limb: str
    procedure_date: dt.date
    technique_family: str
    operator: str
    technical_success: str
    length_of_stay_days: int | None
    signed_off: bool
    locked: bool

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        return obj.uuid

    @staticmethod
    def resolve_patient(obj: Any) -> uuid.UUID:
        return obj.patient.uuid

    @staticmethod
    def resolve_site(obj: Any) -> str:
        return obj.patient.site.ods_code

    @staticmethod
    def resolve_operator(obj: Any) -> str:
        return obj.operator.code

    @staticmethod
    def resolve_signed_off(obj: Any) -> bool:
        return obj.signed_off_at is not None

    @staticmethod
    def resolve_locked(obj: Any) -> bool:
        return obj.locked_at is not None


class _OfProcedure(Schema):
    id: uuid.UUID
    procedure: uuid.UUID

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        return obj.uuid

    @staticmethod
    def resolve_procedure(obj: Any) -> uuid.UUID:
        return obj.procedure.uuid


class _OfPatient(Schema):
    id: uuid.UUID
    patient: uuid.UUID

    @staticmethod
    def resolve_id(obj: Any) -> uuid.UUID:
        return obj.uuid

    @staticmethod
    def resolve_patient(obj: Any) -> uuid.UUID:
        return obj.patient.uuid


class FollowUpOut(_OfProcedure):
    version: int
    visit_date: dt.date
    timepoint: str
    timepoint_year: int | None
    contact_mode: str
    alive: str
    index_limb_status: str
    rutherford: int | None
    wifi_stage: int | None
    wound_status: str
    circuit_patency: str
    pain_nrs: int | None


class AdverseEventOut(_OfProcedure):
    onset_date: dt.date
    category: str
    serious: str
    clavien_dindo: str
    related_to_device: str
    related_to_procedure: str
    outcome: str
    resolution_date: dt.date | None
    mhra_reported: str


class ReinterventionOut(_OfProcedure):
    date: dt.date
    planned: str
    indication: str
    modalities: list[str]
    is_major: bool
    technical_success: str


class AmputationOut(_OfPatient):
    limb: str
    date: dt.date
    level: str
    is_major: bool
    reason: str


class DeathOut(_OfPatient):
    date_of_death: dt.date
    cause_category: str
    source: str


class PromOut(_OfPatient):
    procedure: uuid.UUID | None
    timepoint: str
    instrument: str
    mode: str
    completed_date: dt.date
    completion_status: str
    responses: dict[str, int]
    score: float | None

    @staticmethod
    def resolve_procedure(obj: Any) -> uuid.UUID | None:
        return obj.procedure.uuid if obj.procedure_id else None

    @staticmethod
    def resolve_score(obj: Any) -> float | None:
        return float(obj.score) if obj.score is not None else None


class WorklistItemOut(Schema):
    procedure: uuid.UUID
    patient_registry_id: str
    site: str
    index_limb: str
    procedure_date: dt.date
    timepoint: str
    year: int | None
    label: str
    window_start: dt.date
    due_date: dt.date
    window_end: dt.date
    status: str
    visit_date: dt.date | None


class EndpointRowOut(Schema):
    endpoint: str
    label: str
    kind: str
    timepoint: str | None
    day: float | None
    n: int | None
    n_risk: int | None
    events: int | None
    estimate: float | None
    lower: float | None
    upper: float | None
    suppressed: bool = Field(
        False,
        description="small numbers (1-4) hidden: counts that could identify a patient, and what would reveal them",
    )


class EndpointSummaryOut(Schema):
    sites: list[str]
    data_cutoff: dt.date
    definitions: str
    rows: list[EndpointRowOut]


def finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def whole(value: Any) -> int | None:
    number = finite(value)
    return int(number) if number is not None else None


def _codes(choices: Any) -> Any:
    """A Literal of a value set's codes, so the OpenAPI document lists them and bad codes are a 422."""
    from typing import Literal

    return Literal[tuple(str(code) for code in choices.values)]  # type: ignore[misc]


from pdva.registry import choices as _c  # noqa: E402 - value sets for the input schemas below

TimepointCode = _codes(_c.Timepoint)
ContactModeCode = _codes(_c.ContactMode)
YesNoCode = _codes(_c.YesNo)
LimbStatusCode = _codes(_c.LimbStatus)
WoundStatusCode = _codes(_c.WoundStatus)
PatencyCode = _codes(_c.Patency)
OedemaCode = _codes(_c.Oedema)
AmbulatoryCode = _codes(_c.Ambulatory)
WifiBasisCode = _codes(_c.WifiIBasis)
Grade = Field(None, ge=0, le=3)


class StrictInput(Schema):
    """A request body: a field the API does not accept is a 422 naming it, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class FollowUpFields(StrictInput):
    """Follow-up fields a client may set (derived values, such as the WIfI stage, are computed).

    A field typed ``X | None`` may be emptied with null; a field typed ``X = None`` may be left out but not
    emptied (the record needs a value): the OpenAPI document says exactly which is which."""

    timepoint_year: int | None = Field(None, ge=1, le=100)
    alive: YesNoCode = None
    index_limb_status: LimbStatusCode = None
    rutherford: int | None = Field(None, ge=0, le=6)
    wifi_w: int | None = Grade
    wifi_i: int | None = Grade
    wifi_fi: int | None = Grade
    wifi_i_basis: WifiBasisCode = None
    wound_status: WoundStatusCode = None
    complete_healing_date: dt.date | None = None
    pain_nrs: int | None = Field(None, ge=0, le=10)
    oedema: OedemaCode = None
    circuit_patency: PatencyCode = None
    toe_pressure_mmhg: int | None = Field(None, ge=0, le=1000)
    tcpo2_mmhg: int | None = Field(None, ge=0, le=1000)
    worsening_perfusion: YesNoCode = None
    ambulatory_status: AmbulatoryCode = None
    new_events_since_last: YesNoCode = None


class FollowUpIn(FollowUpFields):
    procedure: uuid.UUID
    visit_date: dt.date
    timepoint: TimepointCode
    contact_mode: ContactModeCode


class FollowUpPatch(FollowUpFields):
    version: int = Field(..., ge=1, le=2**31 - 1, description="the version you loaded (optimistic locking)")
    reason: str = Field(
        ..., min_length=1, max_length=500, pattern=r"\S", description="why the record is being changed"
    )
    visit_date: dt.date = None  # type: ignore[assignment]
    timepoint: TimepointCode = None
    contact_mode: ContactModeCode = None


class ChangeOut(Schema):
    version: int
    by: str
    at: dt.datetime
    reason: str
    changes: dict[str, dict[str, Any]]


class ConflictDetail(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}


class ConflictOut(Schema):
    """409: the record changed since the version you sent (their changes listed), or it is locked."""

    error: ConflictDetail
    current_version: int
    theirs: list[ChangeOut] = []
