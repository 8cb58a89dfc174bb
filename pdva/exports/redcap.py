"""REDCap-compatible export: the 18-column data dictionary, events, the instrument-event mapping,
repeating instruments and a longitudinal data CSV (record_id, redcap_event_name, redcap_repeat_instrument,
redcap_repeat_instance) that PyCap/REDCapR users can load and a REDCap project can import.

Built on the de-identified research export: record_id is the per-export patient pseudonym."""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from pdva.exports import dictionary, lib, research
from pdva.exports.columns import Column, TableColumns
from pdva.exports.stream import PATIENT_BATCH, ZipAssembler, snapshot
from pdva.registry.choices import VALUE_SET_VERSION, Timepoint

HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
SYSTEM_COLUMNS = ["record_id", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]
ENROLMENT = "enrolment_arm_1"


@dataclass(frozen=True)
class Form:
    table: str
    name: str
    prefix: str
    repeating: bool
    per_timepoint: bool = False


FORMS = (
    Form("patients", "patient", "pt_", False),
    Form("deaths", "death", "dth_", False),
    Form("procedures", "procedure", "proc_", True),
    Form("baseline", "baseline", "bl_", True),
    Form("medications", "medication", "med_", True),
    Form("adverse_events", "adverse_event", "ae_", True),
    Form("reinterventions", "reintervention", "ri_", True),
    Form("amputations", "amputation", "amp_", True),
    Form("followups", "followup", "fu_", True, per_timepoint=True),
    Form("proms", "prom", "prom_", True, per_timepoint=True),
)
FORM_BY_TABLE = {f.table: f for f in FORMS}


def event_name(timepoint: str) -> str:
    return f"{timepoint}_arm_1"


def events() -> list[tuple[str, str]]:
    """(label, unique event name): enrolment, then one event per follow-up time point."""
    return [("Enrolment", ENROLMENT)] + [(str(label), event_name(code)) for code, label in Timepoint.choices]


@dataclass
class Field:
    name: str
    form: Form
    column: Column

    @property
    def redcap_type(self) -> str:
        return {"code": "dropdown", "codes": "checkbox", "boolean": "yesno"}.get(self.column.type, "text")

    @property
    def checkbox_columns(self) -> list[tuple[str, str]]:
        return [
            (f"{self.name}___{lib.redcap_checkbox_code(code)}", str(code)) for code, _ in self.column.codes
        ]


def fields(tables: list[TableColumns]) -> list[Field]:
    by_name = {t.spec.name: t for t in tables}
    out = []
    for form in FORMS:
        for col in by_name[form.table].columns:
            if col.name == "patient_id":
                continue  # the record itself (record_id)
            out.append(Field((form.prefix + col.name).lower(), form, col))
    return out


def validation(col: Column) -> str:
    if col.type in ("integer", "day") or col.name.startswith("item_"):
        return "integer"
    if col.type == "decimal":
        return "number"
    return ""


def dictionary_rows(all_fields: list[Field]) -> list[list[str]]:
    rows = [
        ["record_id", "patient", "", "text", "Record ID (patient pseudonym, this export only)"] + [""] * 13
    ]
    for f in all_fields:
        col = f.column
        choices = lib.redcap_choices(col.codes) if f.redcap_type in ("dropdown", "checkbox") else ""
        note = "; ".join(x for x in (col.units, col.derivation) if x)
        row = [f.name, f.form.name, "", f.redcap_type, col.label, choices, note, validation(col), "", ""]
        row += ["", "", "y" if col.required else "", "", "", "", "", "@READONLY" if col.derivation else ""]
        rows.append(row)
    return rows


def csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(lib.neutralise_row(row) for row in rows)
    return buffer.getvalue()


def data_header(all_fields: list[Field]) -> list[str]:
    header = list(SYSTEM_COLUMNS)
    for f in all_fields:
        header += [name for name, _ in f.checkbox_columns] if f.redcap_type == "checkbox" else [f.name]
    return header


class _DataSink:
    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.stream = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.writer = csv.DictWriter(self.stream, fieldnames=header, lineterminator="\n")
        self.writer.writeheader()
        self.rows = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.writer.writerows(rows)
        self.rows += len(rows)

    def close(self) -> None:
        self.stream.close()


def _cells(form_fields: list[Field], names: list[str], values: list[Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    by_column = dict(zip(names, values, strict=True))
    for f in form_fields:
        value = by_column.get(f.column.name)
        if f.redcap_type == "checkbox":
            chosen = set(value.split("|")) if value else set()
            for name, code in f.checkbox_columns:
                row[name] = 1 if code in chosen else 0
        elif f.redcap_type == "yesno":
            row[f.name] = "" if value is None else int(bool(value))
        elif f.column.type in lib.TEXT_CELL_TYPES:
            row[f.name] = lib.neutralise_cell(value)
        else:
            row[f.name] = value
    return row


def export_redcap(
    patients: QuerySet,
    out: Path,
    *,
    created_by: str = "",
    batch_size: int = PATIENT_BATCH,
    key: bytes | None = None,
) -> dict[str, Any]:
    """``key``: the pseudonym key (random per export; injectable so tests can map pseudonyms back)."""
    plan = research.plan(key=key)
    all_fields = fields(plan.tables)
    by_form: dict[str, list[Field]] = defaultdict(list)
    for f in all_fields:
        by_form[f.form.table].append(f)
    names = {t.spec.name: t.names for t in plan.tables}
    assembler = ZipAssembler("csv")
    data = _DataSink(Path(assembler.dir.name) / "redcap_data.csv", data_header(all_fields))
    assembler.sinks["redcap_data"] = data
    counts: dict[str, int] = defaultdict(int)
    with snapshot():
        for _batch, tables in research.iter_batches(plan, patients, batch_size=batch_size):
            rows: list[dict[str, Any]] = []
            enrolment: dict[str, dict[str, Any]] = {}
            patient_col = names["patients"].index("patient_id")
            for values in tables["patients"]:
                record = values[patient_col]
                enrolment[record] = {"record_id": record, "redcap_event_name": ENROLMENT}
                enrolment[record].update(_cells(by_form["patients"], names["patients"], values))
                counts["patients"] += 1
            death_patient = names["deaths"].index("patient_id")
            for values in tables["deaths"]:
                enrolment[values[death_patient]].update(_cells(by_form["deaths"], names["deaths"], values))
                counts["deaths"] += 1
            rows += enrolment.values()
            for form in FORMS:
                if not form.repeating:
                    continue
                table_names = names[form.table]
                pid = table_names.index("patient_id")
                tp = table_names.index("timepoint") if form.per_timepoint else None
                instance: dict[tuple[str, str], int] = defaultdict(int)
                for values in tables[form.table]:
                    event = event_name(values[tp]) if tp is not None else ENROLMENT
                    instance[(values[pid], event)] += 1
                    row = {
                        "record_id": values[pid],
                        "redcap_event_name": event,
                        "redcap_repeat_instrument": form.name,
                        "redcap_repeat_instance": instance[(values[pid], event)],
                    }
                    row.update(_cells(by_form[form.table], table_names, values))
                    rows.append(row)
                    counts[form.table] += 1
            data.write(rows)
    mapping = [["arm_num", "unique_event_name", "form"]]
    for _label, unique in events():
        for form in FORMS:
            if (unique == ENROLMENT) != form.per_timepoint:
                mapping.append(["1", unique, form.name])
    repeating = [["event_name", "form_name", "custom_form_label"]]
    for _label, unique in events():
        for form in FORMS:
            if form.repeating and (unique == ENROLMENT) != form.per_timepoint:
                repeating.append([unique, form.name, ""])
    extras = [
        assembler.extra("redcap_data_dictionary.csv", csv_text([HEADER, *dictionary_rows(all_fields)])),
        assembler.extra(
            "redcap_events.csv",
            csv_text([["event_name", "arm_num", "unique_event_name"]] + [[lb, "1", u] for lb, u in events()]),
        ),
        assembler.extra("redcap_instrument_event_mapping.csv", csv_text(mapping)),
        assembler.extra("redcap_repeating_instruments.csv", csv_text(repeating)),
        assembler.extra("dictionary.csv", dictionary.as_csv(plan.tables)),
    ]
    manifest = {
        "kind": "redcap",
        "export_id": str(uuid.uuid4()),
        "created_at": timezone.now().isoformat(),
        "created_by": created_by,
        "value_set_version": VALUE_SET_VERSION,
        "deidentified": True,
        "tables": dict(counts),
    }
    return assembler.finish(out, manifest, extras)
