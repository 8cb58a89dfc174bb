"""Import a REDCap longitudinal export in the shape pdva's REDCap exporter writes (redcap_data.csv and its
redcap_data_dictionary.csv), mapping it back to registry records: all-or-nothing, like every import.

What REDCap carries is de-identified, so the import needs three facts from the person importing:
- ``sites``: the registry site for each site pseudonym in the file (or one site for all, key "*");
- ``operator``: the operator code (at that site) recorded for the procedures (operators are pseudonyms);
- ``day_zero``: the calendar date of day 0 (the first index procedure); by default the latest day in the file
  falls on today, so no date is in the future. Intervals between dates are exact either way.

Records are linked by the pseudonyms the export carries (record_id for the patient, proc_procedure_id for a
procedure, ...). Derived values are recomputed by the models; values that need identifiers (age at the
procedure) or data REDCap does not carry (procedure times, free text) are left empty.

The data CSV is read once per form, a row at a time; records are written through the bulk audited path in
chunks, in the import's one transaction (see ``import_base``). A REDCap export carries no record uuids, so
only the file's SHA-256 (its import batch) keeps the same file from being loaded twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError

from pdva.exports import lib, redcap, research
from pdva.exports.columns import RECOMPUTED, RESEARCH_KEY
from pdva.exports.import_base import (
    ALIVE_ON,
    CHUNK,
    ImportRun,
    UnreadableCsv,
    count_lines,
    parse_value,
    read_csv,
)
from pdva.exports.tables import BY_NAME
from pdva.registry import models as m

DATA = "redcap_data.csv"
DICTIONARY = "redcap_data_dictionary.csv"
# Forms in the order their records must be created (parents first; deaths last, as they check later events).
ORDER = (
    "patients",
    "procedures",
    "baseline",
    "medications",
    "followups",
    "adverse_events",
    "reinterventions",
    "amputations",
    "proms",
    "deaths",
)
LINKED = {"procedure": "procedures", "followupvisit": "followups", "reintervention": "reinterventions"}


@dataclass
class RedcapOptions:
    sites: dict[str, str]  # site pseudonym (or "*") -> ODS code
    operator: str = ""  # operator code at the site; default: the site's only active operator
    day_zero: dt.date | None = None


def is_redcap(path: Path) -> bool:
    path = Path(path)
    if path.is_dir():
        return (path / DATA).exists()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return DATA in zf.namelist()
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig") as stream:
            return stream.readline().startswith("record_id,redcap_event_name")
    return False


class Source:
    """Where the data CSV and its dictionary are: a zip from the exporter, a directory, or the data CSV with
    the dictionary beside it. The data CSV is read once per form (memory holds links, not rows)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.zipped = self.path.is_file() and zipfile.is_zipfile(self.path)

    def _name(self, member: str) -> Path:
        if self.path.is_dir():
            return self.path / member
        if member == DATA:
            return self.path
        return self.path.with_name(DICTIONARY)

    def exists(self, member: str) -> bool:
        if self.zipped:
            with zipfile.ZipFile(self.path) as zf:
                return member in zf.namelist()
        return self._name(member).exists()

    def binary_members(self) -> Iterator[tuple[str, BinaryIO]]:
        """(file name, byte stream) of the data CSV and its dictionary, where present (encoding check)."""
        for member in (DATA, DICTIONARY):
            if not self.exists(member):
                continue
            if self.zipped:
                with zipfile.ZipFile(self.path) as zf, zf.open(member) as stream:
                    yield member, stream
            else:
                with open(self._name(member), "rb") as stream:
                    yield self._name(member).name, stream

    @contextmanager
    def open(self, member: str) -> Iterator[io.TextIOBase]:
        if self.zipped:
            with (
                zipfile.ZipFile(self.path) as zf,
                io.TextIOWrapper(zf.open(member), encoding="utf-8-sig", newline="") as stream,
            ):
                yield stream
        else:
            with open(self._name(member), encoding="utf-8-sig", newline="") as stream:
                yield stream


@dataclass
class _Links:
    patients: dict[str, Any] = field(default_factory=dict)
    procedures: dict[str, Any] = field(default_factory=dict)
    followups: dict[str, Any] = field(default_factory=dict)
    reinterventions: dict[str, Any] = field(default_factory=dict)


class RedcapImporter:
    def __init__(self, run: ImportRun, options: RedcapOptions, source: Source) -> None:
        self.state = run
        self.report = run.report
        self.options = options
        self.source = source
        self.plan = research.plan()
        self.fields = redcap.fields(self.plan.tables)
        self.by_form: dict[str, list[redcap.Field]] = {}
        for f in self.fields:
            self.by_form.setdefault(f.form.table, []).append(f)
        self.columns = {f.name: f for f in self.fields}
        self.links = _Links()
        self.sites: dict[str, m.Site] = {}
        self.operators: dict[int, m.Operator] = {}
        self.day_zero = options.day_zero
        self.latest: dict[str, dt.date] = {}  # record -> latest day a record shows the patient alive
        self.provisional = itertools.count(-1, -1)
        self.done = 0
        self.total = 0

    # --- checks before any row -------------------------------------------------------------------
    def check_files(self) -> bool:
        for member in (DATA, DICTIONARY):
            if not self.source.exists(member):
                self.report.add(member, 0, "", "file is missing (export data and dictionary together)")
        if self.report.problems:
            return False
        with self.source.open(DICTIONARY) as stream:
            reader = csv.reader(stream)
            header = next(reader, [])
            if header != redcap.HEADER:
                self.report.add(DICTIONARY, 1, "", "not a REDCap data dictionary (18 columns expected)")
                return False
            for row in read_csv(reader, DICTIONARY):
                name = row[0] if row else ""
                if name != "record_id" and name not in self.columns:
                    self.report.add(DICTIONARY, reader.line_num, name, "field unknown to this registry")
                elif name in self.columns and row[3] != self.columns[name].redcap_type:
                    self.report.add(
                        DICTIONARY,
                        reader.line_num,
                        name,
                        f"field type {row[3]!r}, expected {self.columns[name].redcap_type!r}",
                    )
        with self.source.open(DATA) as stream:
            header = next(csv.reader(stream), [])
        known = set(redcap.data_header(self.fields))
        if header[:4] != redcap.SYSTEM_COLUMNS:
            self.report.add(DATA, 1, "", f"the first columns must be {', '.join(redcap.SYSTEM_COLUMNS)}")
        for name in header[4:]:
            if name not in known and not name.endswith("_complete"):
                self.report.add(DATA, 1, name, "column unknown to this registry")
        return not self.report.problems

    def resolve_sites(self) -> bool:
        codes = set(self.options.sites.values())
        found = {s.ods_code: s for s in m.Site.objects.filter(ods_code__in=codes)}
        for key, code in self.options.sites.items():
            site = found.get(code)
            if site is None:
                self.report.add("(options)", 0, "site", f"no site {code!r} in this registry")
                continue
            self.sites[key] = site
            operators = m.Operator.objects.filter(site=site, deleted_at__isnull=True)
            if self.options.operator:
                operator = operators.filter(code=self.options.operator).first()
            else:
                active = list(operators.filter(active=True)[:2])
                operator = active[0] if len(active) == 1 else None
            if operator is None:
                self.report.add(
                    "(options)",
                    0,
                    "operator",
                    f"name the operator (a code at {code}) to record for imported procedures",
                )
            else:
                self.operators[site.pk] = operator
        return not self.report.problems

    def find_day_zero(self) -> None:
        if self.day_zero is not None:
            return
        day_fields = [f.name for f in self.fields if f.column.transform == "days"]
        latest = 0
        for _line, row in self.rows():
            for name in day_fields:
                value = (row.get(name) or "").strip()
                if value.lstrip("-").isdigit():
                    latest = max(latest, int(value))
        self.day_zero = dt.date.today() - dt.timedelta(days=latest)

    # --- rows ----------------------------------------------------------------------------------
    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        progress = self.state.progress
        with self.source.open(DATA) as stream:
            reader = csv.DictReader(stream)
            for row in read_csv(reader, DATA):
                self.done += 1
                if progress is not None and self.done % CHUNK == 0:
                    progress(min(self.done, self.total), self.total)
                yield reader.line_num, row

    def form_rows(self, table: str) -> Iterator[tuple[int, dict[str, str]]]:
        form = redcap.FORM_BY_TABLE[table]
        for line, row in self.rows():
            instrument = row.get("redcap_repeat_instrument") or ""
            if form.repeating:
                if instrument == form.name:
                    yield line, row
            elif not instrument and row.get("redcap_event_name") == redcap.ENROLMENT:
                if table == "patients" or (row.get(redcap.FORM_BY_TABLE[table].prefix + "death_id") or ""):
                    yield line, row

    def check_event(self, table: str, line: int, row: dict[str, str]) -> bool:
        form = redcap.FORM_BY_TABLE[table]
        event = row.get("redcap_event_name") or ""
        allowed = {u for _label, u in redcap.events() if (u == redcap.ENROLMENT) != form.per_timepoint}
        ok = True
        if event not in allowed:
            self.report.add(DATA, line, "redcap_event_name", f"{event!r} is not an event of {form.name}")
            ok = False
        if form.repeating and not (row.get("redcap_repeat_instance") or "").isdigit():
            self.report.add(DATA, line, "redcap_repeat_instance", "a repeat instance number is required")
            ok = False
        return ok

    def value(self, f: redcap.Field, row: dict[str, str]) -> Any:
        """The cell(s) of one field as the text or list the column carries."""
        if f.redcap_type == "checkbox":
            chosen = []
            for name, code in f.checkbox_columns:
                cell = (row.get(name) or "").strip()
                if cell not in ("", "0", "1"):
                    raise ValidationError(f"checkbox {name} must be 0 or 1, not {cell!r}")
                if cell == "1":
                    chosen.append(code)
            return chosen
        return (row.get(f.name) or "").strip()

    def build(self, table: str, line: int, row: dict[str, str]) -> Any:
        model = BY_NAME[table].model
        derived = RECOMPUTED.get(model._meta.model_name, set())
        record = (row.get("record_id") or "").strip()
        values: dict[str, Any] = {}
        responses: dict[str, Any] = {}
        key = ""
        bad = False
        if table != "patients":
            patient = self.links.patients.get(record)
            if patient is None:
                self.report.add(DATA, line, "record_id", f"record {record!r} has no valid enrolment row")
                return None, ""
            if any(f.name == "patient" for f in model._meta.concrete_fields):
                values["patient"] = patient
        for f in self.by_form.get(table, []):
            col = f.column
            try:
                text = self.value(f, row)
                if col.transform == "pseudonym":
                    if col.model_field is None or not col.model_field.is_relation:
                        if col.name == RESEARCH_KEY[table]:
                            key = text
                            if not key:
                                raise ValidationError("the record's key is missing")
                        continue
                    values[col.model_field.name] = self.link(col, text, record)
                elif col.transform == "days":
                    values[col.model_field.name] = self.date(col.model_field, text)
                elif col.transform == "item":
                    if text:
                        responses[col.transform_arg] = _number(text)
                elif col.transform == "top_code" or col.model_field is None:
                    continue
                elif col.transform == "codes":
                    values[col.model_field.name] = text
                elif col.model_field.name in derived:
                    continue
                else:
                    values[col.model_field.name] = parse_value(col.model_field, text)
            except ValidationError as exc:
                self.report.add(DATA, line, f.name, "; ".join(exc.messages))
                bad = True
        if table == "patients":
            key = record
            if not record:
                self.report.add(DATA, line, "record_id", "record_id is missing")
                bad = True
        if table == "proms":
            values["responses"] = responses
        if table == "procedures" and "patient" in values and not bad:
            values["operator"] = self.operators.get(values["patient"].site_id)
        if bad:
            return None, key
        return model(**values), key

    def link(self, col: Any, text: str, record: str) -> Any:
        target = col.model_field.related_model._meta.model_name
        if not text:
            if col.model_field.null:
                return None
            raise ValidationError("a value is required")
        if target == "site":
            site = self.sites.get(text) or self.sites.get("*")
            if site is None:
                raise ValidationError(f"no site given for site pseudonym {text!r} (--site {text}=ODS)")
            return site
        if target == "operator":
            return None  # operators are pseudonyms: the procedure gets the operator named for the import
        if target == "patient":
            return self.links.patients.get(record)
        found = getattr(self.links, LINKED[target]).get(text)
        if found is None:
            raise ValidationError(f"refers to {target} {text!r}, which is not a valid record in this file")
        return found

    def date(self, f: Any, text: str) -> dt.date | None:
        if text == "":
            if f.null:
                return None
            raise ValidationError("a day is required")
        try:
            days = int(text)
        except ValueError as exc:
            raise ValidationError(f"{text!r} is not a whole number of days") from exc
        assert self.day_zero is not None
        return self.day_zero + dt.timedelta(days=days)

    # --- the run -------------------------------------------------------------------------------
    def load(self, table: str) -> None:
        model = BY_NAME[table].model
        pending: list[tuple[int, Any, str]] = []
        created = 0
        seen: set[str] = set()
        day_field = ALIVE_ON.get(table)
        for line, row in self.form_rows(table):
            if not self.check_event(table, line, row):
                continue
            obj, key = self.build(table, line, row)
            if key and key in seen:
                field = (
                    "record_id"
                    if table == "patients"
                    else redcap.FORM_BY_TABLE[table].prefix + RESEARCH_KEY[table]
                )
                self.report.add(DATA, line, field, f"{key!r} appears twice")
                continue
            seen.add(key)
            if obj is None:
                continue
            record = (row.get("record_id") or "").strip()
            if table == "patients":
                # New patients: no identity (REDCap carries none) and no death yet, known without a query.
                m.Patient.identity.related.set_cached_value(obj, None)
                m.Patient.death.related.set_cached_value(obj, None)
            elif table == "deaths":
                # Checked against the patient's records read so far; the bulk path checks it again.
                obj._known_latest_event = self.latest.get(record)
            prefix = redcap.FORM_BY_TABLE[table].prefix
            try:
                obj.prepare_for_save()
            except ValidationError as exc:
                self.report.add_validation_error(
                    DATA, line, exc, lambda n, prefix=prefix: _redcap_name(model, prefix, n)
                )
                continue
            finally:
                obj.__dict__.pop("_known_latest_event", None)
            day = getattr(obj, day_field) if day_field else None
            if day is not None and not (table == "followups" and obj.alive == "no"):
                self.latest[record] = max(day, self.latest.get(record, day))
            pending.append((line, obj, key))
            if len(pending) >= CHUNK:
                created += self.write(table, pending)
                pending = []
        created += self.write(table, pending)
        self.report.created[table] = created

    def write(self, table: str, pending: list[tuple[int, Any, str]]) -> int:
        """Write a chunk (unless a dry run or after a problem) and link its records for later forms."""
        objs = [obj for _line, obj, _key in pending]
        written = False
        if objs and self.state.writing:
            assert self.state.writer is not None
            self.state.writer.extend(objs)
            written = self.state.flush(DATA, [line for line, _obj, _key in pending], objs)
        links = getattr(self.links, table, None)
        for _line, obj, key in pending:
            if not written:
                obj.pk = next(self.provisional)  # a stand-in id, so later checks comparing ids still work
            if links is not None:
                links[key] = obj
        return len(objs)

    def run(self) -> None:
        try:
            self.run_checked()
        except UnreadableCsv as exc:
            self.report.add(exc.file or DATA, exc.line, "", exc.problem)

    def run_checked(self) -> None:
        if not (self.check_files() and self.resolve_sites()):
            return
        for site in self.sites.values():
            self.state.add_site(site)
        if self.state.progress is not None:
            with self.source.open(DATA) as stream:
                rows = max(0, count_lines(stream) - 1)
            self.total = rows * (len(ORDER) + (0 if self.day_zero is not None else 1))
            self.state.progress(0, self.total)
        self.find_day_zero()
        for table in ORDER:
            self.load(table)
        if self.state.progress is not None:
            self.state.progress(self.total, self.total)


def _redcap_name(model: Any, prefix: str, name: str) -> str:
    """The REDCap field a model error belongs to (date fields are carried as days)."""
    if name in ("__all__", ""):
        return ""
    try:
        f = model._meta.get_field(name)
    except Exception:  # an error key that is not a field: report it as given
        return name
    return prefix + (lib.day_column_name(name) if f.get_internal_type() == "DateField" else name)


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError as exc:
            raise ValidationError(f"{text!r} is not a number") from exc
