"""Columns of every export table, generated from the registry models.

One description per column (name, type, units, codes, derivation, required) drives the CSV/Parquet writers,
the data dictionary, the REDCap dictionary, the ODM metadata and the importer, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from django.db import models

from pdva.exports import lib
from pdva.exports.tables import TableSpec
from pdva.registry.crypto import decrypt
from pdva.registry.instruments import ITEMS

# Fields computed by the model's derive(): never imported, always recomputed.
RECOMPUTED = {
    "procedure": {"technical_success", "length_of_stay_days", "duration_minutes", "age_at_procedure"},
    "baseline": {
        "wifi_stage",
        "wifi_stage_status",
        "wifi_table_version",
        "glass_stage",
        "glass_table_version",
    },
    "medication": {"drug_class"},
    "followupvisit": {"wifi_stage"},
    "reintervention": {"is_major"},
    "amputation": {"is_major"},
}

DERIVATIONS = {
    ("procedure", "technical_success"): "yes when completion angiography shows foot venous opacification, "
    "outflow was reached and there was no conversion to open surgery; no when any of these failed; else not known",
    ("procedure", "length_of_stay_days"): "discharge date minus admission date, in days",
    ("procedure", "duration_minutes"): "end time minus start time, in whole minutes",
    ("procedure", "age_at_procedure"): "age in whole years on the procedure date, from the date of birth",
    ("procedure", "signed_off_at"): "set by the case sign-off workflow",
    ("procedure", "signed_off_by"): "set by the case sign-off workflow",
    ("procedure", "locked_at"): "set when a signed-off case is locked",
    ("baseline", "wifi_stage"): "WIfI clinical stage (1-4) from the W, I and fI grades (SVS lookup table)",
    ("baseline", "wifi_stage_status"): "how the WIfI stage was obtained from the lookup table",
    ("baseline", "wifi_table_version"): "version of the WIfI lookup table used",
    ("baseline", "glass_stage"): "GLASS stage (I-III) from the femoropopliteal and infrapopliteal grades",
    ("baseline", "glass_table_version"): "version of the GLASS lookup table used",
    ("medication", "drug_class"): "class of the agent: antiplatelet, anticoagulant, lipid lowering or other",
    ("followupvisit", "wifi_stage"): "WIfI clinical stage (1-4) from the W, I and fI grades at this visit",
    ("reintervention", "is_major"): "true when any modality is a new bypass, open surgical revision, "
    "thrombectomy or thrombolysis (major reintervention, MALE definition)",
    ("amputation", "is_major"): "true when the level is at or above the ankle (major amputation)",
    ("promadministration", "score"): "instrument score computed by pdva.proms",
    ("promadministration", "score_method"): "scoring method and value set used for the score",
    ("patient", "registry_id"): "assigned by the registry when the patient is created",
}

UNIT_SUFFIXES = (
    ("_mmhg", "mmHg"),
    ("_cm2", "cm²"),
    ("_cm_s", "cm/s"),
    ("_ml_min", "mL/min"),
    ("_ml", "mL"),
    ("_mm", "mm"),
    ("_min", "minutes"),
    ("_minutes", "minutes"),
    ("_days", "days"),
    ("_gycm2", "Gy·cm²"),
    ("_g_l", "g/L"),
    ("_umol_l", "µmol/L"),
    ("_mmol_mol", "mmol/mol"),
)
UNITS = {
    "egfr": "mL/min/1.73m²",
    "age_at_procedure": "years",
    "wcc": "×10⁹/L",
    "bmi": "kg/m²",
    "dose": "see dose_unit (free entry: in the full export only)",
    "prior_dva_experience_cases": "cases",
}

# The allow list of character fields without a value set that de-identified exports (research, REDCap, ODM)
# may carry: codes of a published scheme or versions set by the software. Every other text field is free
# entry and is withheld (default deny) unless a research export allows it by name (``allow_free_text``).
# Device manufacturer and model and the dose unit are typed freely: not here. The device reaches
# de-identified exports as ``device_code`` (a value set: the reference table "device").
CODED_TEXT = {
    "dmd_code",
    "opcs4_code",
    "underlying_cause_icd10",
    "language_version",
    "wifi_stage_status",
    "wifi_table_version",
    "glass_stage",
    "glass_table_version",
    "score_method",
    "consent_form_version",
}
# Identifier-like or person-level fields never in a research export, whatever is allowed.
NEVER_IN_RESEARCH = {
    "registry_id",
    "uuid",
    "device_udi",
    "device_lot",
    "mhra_reference",
    "research_study_id",
    "start_time",
    "end_time",
    "signed_off_at",
    "signed_off_by",
    "locked_at",
    "national_data_opt_out",
    "deleted_at",
    "deleted_reason",
}
SKIPPED = {"id", "version", "created_at", "updated_at", "deleted_at", "deleted_reason"}

IDENTITY_FIELDS = (
    ("nhs_number", "NHS number", "string"),
    ("family_name", "family name", "string"),
    ("given_name", "given name", "string"),
    ("date_of_birth", "date of birth", "date"),
    ("postcode", "postcode", "string"),
)

# The key column a research table carries for its own rows, and the pseudonym kind (model name).
RESEARCH_KEY = {
    "patients": "patient_id",
    "procedures": "procedure_id",
    "baseline": "baseline_id",
    "medications": "medication_id",
    "followups": "followup_id",
    "adverse_events": "adverse_event_id",
    "reinterventions": "reintervention_id",
    "amputations": "amputation_id",
    "deaths": "death_id",
    "proms": "prom_id",
}
FK_RESEARCH_NAME = {
    "patient": "patient_id",
    "procedure": "procedure_id",
    "visit": "followup_id",
    "reintervention": "reintervention_id",
    "operator": "operator_id",
    "second_operator": "second_operator_id",
    "site": "site_id",
}
FK_TABLE = {
    "patient": "patients",
    "procedure": "procedures",
    "visit": "followups",
    "reintervention": "reinterventions",
    "operator": "operators",
    "second_operator": "operators",
    "site": "sites",
}


@dataclass
class Column:
    name: str
    type: str  # string text code codes integer decimal date datetime boolean json reference day
    label: str
    sources: tuple[str, ...]
    fn: Callable[..., Any] | None = None  # None: the single source value unchanged
    units: str = ""
    codes: Sequence[tuple[Any, str]] = ()
    derivation: str = ""
    required: bool = False
    references: str = ""
    decimal: tuple[int, int] | None = None
    model_field: models.Field | None = field(default=None, repr=False)
    free_text: bool = False
    # How a research value is derived from its sources, for engines that do not run ``fn`` (the SQL fast
    # path): "" (unchanged), "pseudonym" (arg: kind), "days", "top_code", "codes", "item" (arg: code), "json".
    transform: str = ""
    transform_arg: str = ""


@dataclass
class TableColumns:
    spec: TableSpec
    columns: list[Column]
    patient_source: str | None  # lookup giving the row's patient id (for batching and sorting)
    sources: list[str] = field(default_factory=list)
    getters: list[Callable[[tuple], Any]] = field(default_factory=list)
    # Free-entry text fields a de-identified export leaves out: (field name, label), for the dictionary.
    withheld: list[tuple[str, str]] = field(default_factory=list)

    def compile(self) -> TableColumns:
        index: dict[str, int] = {}
        needed = [s for c in self.columns for s in c.sources]
        if self.patient_source:
            needed.append(self.patient_source)
        for lookup in needed:
            if lookup not in index:
                index[lookup] = len(index)
        self.sources = list(index)
        self.getters = []
        for col in self.columns:
            idxs = [index[s] for s in col.sources]
            if col.fn is None:
                self.getters.append(itemgetter(idxs[0]))
            elif len(idxs) == 1:
                fn, i = col.fn, idxs[0]
                self.getters.append(lambda row, fn=fn, i=i: fn(row[i]))
            else:
                fn, getter = col.fn, itemgetter(*idxs)
                self.getters.append(lambda row, fn=fn, getter=getter: fn(*getter(row)))
        self.patient_index = index[self.patient_source] if self.patient_source else None
        return self

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def convert(self, row: tuple) -> list[Any]:
        return [g(row) for g in self.getters]


def field_type(f: models.Field) -> str:
    if f.is_relation:
        return "reference"
    if isinstance(f, models.JSONField):
        return "json"
    if f.choices:
        return "code"
    if isinstance(f, models.BooleanField):
        return "boolean"
    if isinstance(f, models.DateTimeField):
        return "datetime"
    if isinstance(f, models.DateField):
        return "date"
    if isinstance(f, models.DecimalField):
        return "decimal"
    if isinstance(f, models.IntegerField):
        return "integer"
    if isinstance(f, models.TextField):
        return "text"
    return "string"


def units_for(name: str) -> str:
    if name in UNITS:
        return UNITS[name]
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return ""


def is_free_text(f: models.Field) -> bool:
    if isinstance(f, models.TextField):
        return True
    return isinstance(f, models.CharField) and not f.choices and f.name not in CODED_TEXT


def is_required(f: models.Field) -> bool:
    if not f.editable and f.name != "uuid":
        return False
    return not (f.blank or f.null or f.has_default())


def multi_choices(model: type, name: str) -> Any:
    return getattr(model, "multi_choice_fields", {}).get(name)


def _base_column(model: type, f: models.Field, name: str, type_: str, sources: tuple[str, ...]) -> Column:
    choices = multi_choices(model, f.name)
    codes: Sequence[tuple[Any, str]] = list(choices.choices) if choices else list(f.choices or ())
    key = (model._meta.model_name, f.name)
    return Column(
        name=name,
        type=type_,
        label=str(f.verbose_name),
        sources=sources,
        units=units_for(f.name),
        codes=codes,
        derivation=DERIVATIONS.get(key, "derived" if not f.editable and f.name != "uuid" else ""),
        required=is_required(f),
        decimal=(f.max_digits, f.decimal_places) if isinstance(f, models.DecimalField) else None,
        model_field=f,
        free_text=is_free_text(f),
    )


def _plain(value: str | None) -> str | None:
    return decrypt(value) if value else None


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _utc_text(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _operator_key(ods: str | None, code: str | None) -> str | None:
    return f"{ods}/{code}" if ods and code else None


# --- full export: every field, natural keys for references -------------------------------------


def full_columns(spec: TableSpec, *, identifiers: bool = True) -> TableColumns:
    model = spec.model
    cols: list[Column] = []
    if spec.name == "patient_identities":
        patient = model._meta.get_field("patient")
        col = _base_column(model, patient, "patient", "reference", ("patient__uuid",))
        col.references, col.required = "patients", True
        cols.append(col)
        for name, label, type_ in IDENTITY_FIELDS:
            cols.append(Column(name=name, type=type_, label=label, sources=(f"{name}_enc",), fn=_plain))
        return TableColumns(spec, cols, "patient_id").compile()
    for f in model._meta.concrete_fields:
        if f.name in SKIPPED:
            continue
        if f.is_relation:
            target = f.related_model
            col = _base_column(model, f, f.name, "reference", ())
            if target._meta.model_name == "site":
                col.sources, col.references = (f"{f.name}__ods_code",), "sites"
            elif target._meta.model_name == "operator":
                col.sources = (f"{f.name}__site__ods_code", f"{f.name}__code")
                col.fn, col.references = _operator_key, "operators"
            elif target._meta.model_name == "user":
                col.sources, col.references = (f"{f.name}__username",), "users"
            else:
                col.sources, col.references = (f"{f.name}__uuid",), FK_TABLE.get(f.name, "")
                col.fn = lambda v: str(v) if v is not None else None
            cols.append(col)
            continue
        type_ = field_type(f)
        col = _base_column(model, f, f.name, type_, (f.attname,))
        if f.name == "uuid":
            col.type, col.fn = "string", str
        elif type_ == "json":
            if multi_choices(model, f.name):
                col.type = "codes"
            col.fn = _json_text
        elif type_ == "datetime":
            col.fn = _utc_text
        cols.append(col)
    return TableColumns(spec, cols, spec.patient_path if spec.patient_path != "id" else "id").compile()


# --- research export: pseudonyms, days from index, no identifiers or free text --------------------


class ResearchState:
    """Per-export secrets and per-batch facts the research converters need."""

    def __init__(self, pseudonymise: lib.Pseudonymiser) -> None:
        self.pseudonymise = pseudonymise
        self.index_date: dict[int, dt.date] = {}
        self.row_patient: int | None = None


def research_columns(spec: TableSpec, state: ResearchState, *, allow_free_text: set[str]) -> TableColumns:
    model = spec.model
    model_name = model._meta.model_name
    pseudo = state.pseudonymise
    cols: list[Column] = []
    withheld: list[tuple[str, str]] = []
    patient_source = spec.patient_path
    cols.append(
        Column(
            name=RESEARCH_KEY[spec.name],
            type="string",
            label=f"{spec.name} pseudonym (this export only)",
            sources=("id",),
            fn=lambda v, kind=model_name: pseudo(kind, v),
            derivation="keyed hash of the record under a random key used for this export only",
            required=True,
            transform="pseudonym",
            transform_arg=model_name,
        )
    )
    if patient_source not in ("id", "patient_id"):
        cols.append(
            Column(
                name="patient_id",
                type="reference",
                label="patient pseudonym (this export only)",
                sources=(patient_source,),
                fn=lambda v: pseudo("patient", v),
                references="patients",
                required=True,
                transform="pseudonym",
                transform_arg="patient",
            )
        )
    if spec.name == "patients":
        site = model._meta.get_field("site")
        cols.append(
            Column(
                name="site_id",
                type="string",
                label="site pseudonym (this export only)",
                sources=("site_id",),
                fn=lambda v: pseudo("site", v),
                model_field=site,
                required=True,
                transform="pseudonym",
                transform_arg="site",
            )
        )
    for f in model._meta.concrete_fields:
        if f.name in SKIPPED or f.name in NEVER_IN_RESEARCH or f.name == "site":
            continue
        qualified = f"{spec.name}.{f.name}"
        if is_free_text(f) and qualified not in allow_free_text:
            if not f.is_relation:
                withheld.append((f.name, str(f.verbose_name)))
            continue
        if f.is_relation:
            kind = f.related_model._meta.model_name
            name = FK_RESEARCH_NAME.get(f.name, f"{f.name}_id")
            cols.append(
                Column(
                    name=name,
                    type="reference",
                    label=f"{f.verbose_name} pseudonym (this export only)",
                    sources=(f.attname,),
                    fn=lambda v, kind=kind: pseudo(kind, v),
                    references=FK_TABLE.get(f.name, ""),
                    required=is_required(f),
                    model_field=f,
                    transform="pseudonym",
                    transform_arg=kind,
                )
            )
            continue
        type_ = field_type(f)
        if type_ == "date":
            col = _base_column(model, f, lib.day_column_name(f.name), "day", (f.attname, patient_source))
            col.units = "days"
            col.derivation = f"{f.name} as days from the patient's first index procedure (day 0); calendar dates are not exported"
            col.fn = lambda day, pid: lib.days_between(day, state.index_date.get(pid))
            col.transform = "days"
            cols.append(col)
            continue
        if type_ == "datetime":
            continue
        col = _base_column(model, f, f.name, type_, (f.attname,))
        if f.name == "age_at_procedure":
            col.fn, col.transform = lib.band_age, "top_code"
            col.derivation += f"; ages of {lib.AGE_TOP_CODE} and over are reported as {lib.AGE_TOP_CODE}"
        elif type_ == "json" and multi_choices(model, f.name):
            col.type, col.fn, col.transform = "codes", (lambda v: "|".join(v) if v else ""), "codes"
        elif f.name == "responses":
            continue  # expanded into one column per item below
        elif type_ == "json":
            col.fn, col.transform = _json_text, "json"
        cols.append(col)
    if spec.name == "proms":
        codes = sorted({code for items in ITEMS.values() for code in items}, key=_item_order)
        for code in codes:
            cols.append(
                Column(
                    name=f"item_{code}",
                    type="integer",
                    label=f"response to item {code}",
                    sources=("responses",),
                    fn=lambda responses, code=code: (responses or {}).get(code),
                    derivation="raw response level from the PROM administration (no item wording is stored)",
                    transform="item",
                    transform_arg=code,
                )
            )
    table = TableColumns(spec, cols, patient_source, withheld=withheld)
    return table.compile()


def _item_order(code: str) -> tuple[int, str]:
    for n, items in enumerate(ITEMS.values()):
        if code in items:
            return n, f"{list(items).index(code):03d}"
    return 99, code
