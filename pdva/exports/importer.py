"""Import from a full export (or CSVs in the registry's dictionary format): streamed, all or nothing.

Tables are read in dependency order, ``CHUNK`` rows at a time. Every row is parsed against the dictionary
and checked by the model's own rules (``prepare_for_save``: derive and clean_for_save); problems are
reported by file, line and field. Memory holds one chunk of rows, plus a small reference per record that
later rows point at or check against (a patient's site, date of birth, death and latest dated record; a
procedure's date; the new ids) and the uuids seen, to refuse duplicates: tens of bytes per record, never
the rows. Records already in the registry are looked up for a whole chunk at once, one query per table.

The checks read parents through stand-ins built from those references (``_Parents``), so a dry run (which
writes nothing) checks exactly what a real run checks. A real run writes each chunk through the bulk
audited path in the import's one transaction (see ``import_base``); from the first problem on it only
checks, and at the end rolls everything back.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import itertools
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from pdva.accounts.access import site_ids_for
from pdva.accounts.roles import Cap
from pdva.exports.columns import RECOMPUTED, Column, full_columns
from pdva.exports.import_base import (
    ALIVE_ON,
    ImportRefused,
    ImportReport,
    ImportRun,
    Problem,
    ProgressFn,
    UnreadableCsv,
    cell_parser,
    chunks,
    count_lines,
    csv_rows,
    encoding_problem,
    read_csv,
    refuse_if_loaded,
    remembering_parser,
    run_import,
    source_sha256,
)
from pdva.exports.lib import restore_cell
from pdva.exports.models import ImportBatch
from pdva.exports.redcap_import import RedcapImporter, RedcapOptions, Source, is_redcap
from pdva.exports.tables import TABLES, TableSpec
from pdva.registry import models as m
from pdva.registry.crypto import decrypt
from pdva.registry.models.care import latest_event_dates

# Tables holding at most one row per parent record: (parent column, flag on the parent's reference).
ONE_TO_ONE = {
    "baseline": ("procedure", "has_baseline"),
    "consent": ("procedure", "has_consent"),
    "deaths": ("patient", "has_death"),
    "patient_identities": ("patient", "has_identity"),
}
# Tables later rows refer to by uuid.
REFERENCED = ("patients", "procedures", "followups", "reinterventions")
SITE_TABLES = ("sites", "site_governance", "operators")
FLUSH_ROWS = 5000  # checked records written together (one COPY per table and one chain append each)
STUB_CACHE = 4096  # parents' stand-ins kept for consecutive rows of the same patient or procedure
_UNSEEN = object()  # a cell text not in its column's memo

__all__ = ["ImportRefused", "ImportReport", "check_import_allowed", "import_path"]


# --- what later rows need to know of earlier ones ------------------------------------------------


@dataclass(slots=True, eq=False)
class PatientRef:
    site: Any
    pk: int | None = None
    existing: bool = False  # in the registry before this import
    dob: dt.date | None = None  # from the identity (decrypted once, not per check that reads it)
    has_identity: bool = False
    death: dt.date | None = None
    has_death: bool = False
    latest: dt.date | None = None  # latest day a record shows the patient alive


@dataclass(slots=True, eq=False)
class ProcedureRef:
    patient: PatientRef
    date: dt.date
    pk: int | None = None
    existing: bool = False
    has_baseline: bool = False
    has_consent: bool = False


@dataclass(slots=True, eq=False)
class RowRef:
    """A visit or reintervention: later rows only need its id."""

    pk: int | None = None


@dataclass(slots=True)
class _Cell:
    index: int
    name: str
    kind: str  # value, text, ref, uuid, secret
    column: Column
    parse: Any = None
    attname: str = ""
    field: Any = None


@dataclass(slots=True)
class _Row:
    """The references one row resolved (its patient and procedure), for its checks and bookkeeping."""

    uuid: uuid.UUID | None = None
    dob: dt.date | None = None  # an identity's date of birth, as parsed
    patient: PatientRef | None = None
    procedure: ProcedureRef | None = None


# --- reading the source ------------------------------------------------------------------------


def table_streams(path: Path) -> Iterator[tuple[TableSpec, str, io.TextIOBase]]:
    """(table, file name, text stream) for every table file present, in import order."""
    if path.is_dir():
        for spec in TABLES:
            f = path / f"{spec.name}.csv"
            if f.exists():
                with open(f, newline="", encoding="utf-8-sig") as stream:
                    yield spec, f.name, stream
        return
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for spec in TABLES:
                member = f"{spec.name}.csv"
                if member in names:
                    with io.TextIOWrapper(zf.open(member), encoding="utf-8-sig", newline="") as stream:
                        yield spec, member, stream
        return
    spec = next((t for t in TABLES if t.name == path.stem), None)
    if spec is None:
        raise ValueError(f"{path.name}: name a CSV after its table ({', '.join(t.name for t in TABLES)})")
    with open(path, newline="", encoding="utf-8-sig") as stream:
        yield spec, path.name, stream


def total_rows(path: Path) -> int:
    """Rows to import, for the progress line: the export's manifest when there is one, else line counts."""
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if "manifest.json" in zf.namelist():
                try:
                    counts = json.loads(zf.read("manifest.json")).get("tables", {})
                except (ValueError, AttributeError):
                    counts = {}
                names = set(zf.namelist())
                if counts and all(f"{t}.csv" in names for t in counts):
                    return sum(int(n) for n in counts.values())
    return sum(max(0, count_lines(stream) - 1) for _spec, _name, stream in table_streams(path))


def site_codes_in(path: Path) -> set[str]:
    """ODS codes of every site the file touches (checked against the importing user's rights)."""
    codes: set[str] = set()
    for spec, _name, stream in table_streams(path):
        key = (
            "ods_code"
            if spec.name == "sites"
            else "site"
            if spec.name in ("patients", "site_governance", "operators")
            else None
        )
        if key is None:
            continue
        try:
            for row in read_csv(csv.DictReader(stream)):
                if row.get(key):
                    codes.add(row[key].strip().upper())
        except UnreadableCsv:
            continue  # the import itself reports the line (and so writes nothing)
    return codes


def binary_members(path: Path) -> Iterator[tuple[str, BinaryIO]]:
    """(file name, byte stream) of every table file the import reads, for the encoding check."""
    if path.is_dir():
        for spec in TABLES:
            f = path / f"{spec.name}.csv"
            if f.exists():
                with open(f, "rb") as stream:
                    yield f.name, stream
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for spec in TABLES:
                if f"{spec.name}.csv" in names:
                    with zf.open(f"{spec.name}.csv") as stream:
                        yield f"{spec.name}.csv", stream
    else:
        with open(path, "rb") as stream:
            yield path.name, stream


def encoding_problems(path: Path, redcap: bool) -> list[Problem]:
    """Files of the import that are not UTF-8, each named with the line, column and byte offset."""
    members = Source(path).binary_members() if redcap else binary_members(path)
    return [p for name, stream in members if (p := encoding_problem(name, stream)) is not None]


# --- the importer --------------------------------------------------------------------------------


class FullImporter:
    def __init__(self, run: ImportRun, *, allowed_site_ids: set[int] | None) -> None:
        self.state = run
        self.report = run.report
        self.allowed = allowed_site_ids
        self.sites = {s.ods_code: s for s in m.Site.objects.all()}
        self.sites_by_pk = {s.pk: s for s in self.sites.values()}
        self.governed = set(m.SiteGovernance._base_manager.values_list("site__ods_code", flat=True))
        self.operators: dict[str, m.Operator] = {}  # "ODS/code" -> operator rows may refer to
        self.operator_keys: set[str] = set()  # every operator here, removed ones too (codes are unique)
        for op in m.Operator._base_manager.select_related("site"):
            key = f"{op.site.ods_code}/{op.code}"
            self.operator_keys.add(key)
            if op.deleted_at is None:
                self.operators[key] = op
        self.users: dict[str, Any] = {}
        self.refs: dict[str, dict[int, Any]] = {name: {} for name in REFERENCED}
        self.refused: dict[tuple[str, int], str] = {}  # records here at sites the user may not import into
        self.seen: dict[str, set[int]] = {}  # uuids of this file's rows in tables nothing refers to
        self.registry_ids: set[str] = set()
        self.keys: dict[str, int] = {}  # uuid text -> key, for the references of the current chunk
        self.taken: set[int] = set()  # uuids of the current chunk already in the registry
        self.taken_registry_ids: set[str] = set()
        self.stubs = _Parents()
        self.pending: list[
            tuple[int, Any, Any]
        ] = []  # checked rows not yet written: (line, record, reference)
        self.provisional = itertools.count(-1, -1)
        self.done = 0
        self.total = 0

    # --- the run -------------------------------------------------------------------------------
    def run_path(self, path: Path) -> None:
        progress = self.state.progress
        if progress is not None:
            self.total = total_rows(path)
            progress(0, self.total)
        # The collector's automatic runs cost a third of a national import's time: each full one walks every
        # record still pending and every reference of the table so far. The import collects the young
        # generations itself every FLUSH_ROWS rows (short-lived cycles: a refused row's exception) and all
        # at each table's start; the long-lived cycles (a one-to-one record and its parent's stand-in) are
        # broken once the record is written.
        automatic = gc.isenabled()
        gc.disable()
        try:
            for spec, fname, stream in table_streams(path):
                self.load(spec, fname, stream)
        finally:
            gc.unfreeze()
            if automatic:
                gc.enable()
        if progress is not None:
            progress(self.total, self.total)

    def load(self, spec: TableSpec, fname: str, stream: io.TextIOBase) -> None:
        table = full_columns(spec)
        columns = {c.name: c for c in table.columns}
        try:
            header, rows = csv_rows(stream)
        except UnreadableCsv as exc:
            self.report.add(fname, exc.line, "", exc.problem)
            return
        rows = self.reported(rows, fname)
        problems = self.report.problem_count
        for name in header:
            if name not in columns:
                self.report.add(fname, 1, name, f"unknown column for table {spec.name}")
        for c in table.columns:
            if c.required and c.name not in header and c.name != "uuid":
                self.report.add(fname, 1, c.name, "required column is missing")
        if self.report.problem_count > problems:
            return
        cells = self.plan(spec, header, columns)
        # Plain values and free text: (index, attname, memo, parser), the memo looked up before parsing.
        self.plain = [
            (c.index, c.attname, *remembering_parser(c.field, strip=c.kind == "value"))
            for c in cells
            if c.kind in ("value", "text")
        ]
        self.others = [c for c in cells if c.kind not in ("value", "text")]
        self.maker = _RecordMaker(spec.model, {c.attname for c in cells if c.kind != "secret"})
        self.stubs.clear()
        # A record that caches its parent's stand-in, which caches it back (one-to-one): a cycle to break.
        self.cyclic = any(c.field is not None and c.field.one_to_one for c in cells if c.kind == "ref")
        # The references kept so far live to the end of the import: move them out of the collector's sight,
        # or every full collection walks them all again.
        gc.collect()
        gc.freeze()
        created = reused = uncollected = 0
        for chunk in chunks(rows):
            self.prefetch(spec, cells, chunk)
            for line, row in chunk:
                if len(row) > len(header):
                    self.report.add(fname, line, "", "more cells than columns")
                    continue
                if self.reuse(spec, row, header):
                    reused += 1
                    continue
                result = self.check(spec, cells, row, fname, line)
                if result is None:
                    continue
                obj, ref = result
                self.pending.append((line, obj, ref))
                created += 1
            if len(self.pending) >= FLUSH_ROWS:
                self.write(fname)
            uncollected += len(chunk)
            if uncollected >= FLUSH_ROWS:
                gc.collect(1)  # just after a write, when few of these rows' objects are still alive
                uncollected = 0
            self.done += len(chunk)
            if self.state.progress is not None:
                self.state.progress(min(self.done, self.total), self.total)
        self.write(fname)  # the next table's rows may point at these: they are written (and have ids) first
        self.report.created[spec.name] = created
        if reused:
            self.report.reused[spec.name] = reused

    def reported(self, rows: Iterator[tuple[int, list[str]]], fname: str) -> Iterator[tuple[int, list[str]]]:
        """The rows, up to a line the reader cannot read (reported there: nothing is written)."""
        try:
            yield from rows
        except UnreadableCsv as exc:
            self.report.add(fname, exc.line, "", exc.problem)

    def write(self, fname: str) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        lines = [line for line, _obj, _ref in pending]
        objs = [obj for _line, obj, _ref in pending]
        written = False
        if self.state.writing:
            assert self.state.writer is not None
            self.state.writer.extend(objs)
            written = self.state.flush(fname, lines, objs)
        for _line, obj, ref in pending:
            if not written:
                # Not inserted (a dry run, or after a problem): a stand-in id, so the checks of later rows
                # that compare ids (this procedure's patient is that patient) work as after an insert.
                obj.pk = next(self.provisional)
            if ref is not None:
                ref.pk = obj.pk
            if written and isinstance(obj, m.Site):
                self.sites_by_pk[obj.pk] = obj
            if self.cyclic:
                obj._state.fields_cache.clear()

    def plan(self, spec: TableSpec, header: list[str], columns: dict[str, Column]) -> list[_Cell]:
        derived = RECOMPUTED.get(spec.model._meta.model_name, set())
        cells = []
        for index, name in enumerate(header):
            col = columns.get(name)
            if col is None or name in derived:
                continue
            if spec.name == "patient_identities" and name != "patient":
                kind = "secret"
            elif col.type == "reference":
                kind = "ref"
            elif name == "uuid":
                kind = "uuid"
            else:
                kind = "text" if col.type == "text" else "value"
            f = col.model_field
            parse = cell_parser(f) if kind in ("value", "text") and f is not None else None
            cells.append(_Cell(index, name, kind, col, parse, f.attname if f is not None else name, f))
        return cells

    # --- looking up a chunk's references in the registry, in one query per table -----------------
    def prefetch(self, spec: TableSpec, cells: list[_Cell], chunk: list[tuple[int, list[str]]]) -> None:
        wanted: dict[str, set[int]] = {name: set() for name in REFERENCED}
        own: list[int] = []
        registry_ids: list[str] = []
        references = [
            (c.index, c.column.references) for c in cells if c.kind == "ref" and c.column.references in wanted
        ]
        own_index = next((c.index for c in cells if c.kind == "uuid"), None)
        registry_index = next((c.index for c in cells if c.name == "registry_id"), None)
        keys = self.keys
        keys.clear()
        for _line, row in chunk:
            width = len(row)
            for index, table in references:
                if index >= width:
                    continue
                text = row[index].strip()
                key = keys.get(text)
                if key is None:
                    key = _uuid_key_or_none(text)
                    if key is None:
                        continue
                    keys[text] = key  # parsed once per chunk, not again for the row
                if key not in self.refs[table] and (table, key) not in self.refused:
                    wanted[table].add(key)
            if own_index is not None and own_index < width:
                text = row[own_index].strip()
                key = _uuid_key_or_none(text)
                if key is not None:
                    own.append(key)
                    keys[text] = key  # the row's check reads it from here
            if spec.name == "patients" and registry_index is not None and registry_index < width:
                registry_ids.append(row[registry_index].strip())
        if wanted["procedures"]:
            self.fetch_procedures(wanted["procedures"])
        if wanted["patients"]:
            self.fetch_patients(wanted["patients"])
        for table in ("followups", "reinterventions"):
            if wanted[table]:
                self.fetch_rows(table, wanted[table])
        self.taken = _present_uuids(spec.model, own)
        self.taken_registry_ids = _present(m.Patient, "registry_id", registry_ids)
        if spec.name == "deaths":
            self.fetch_latest_events(chunk, cells)

    def fetch_patients(self, wanted: set[int]) -> None:
        rows = m.Patient._base_manager.filter(
            uuid__in=[uuid.UUID(int=u) for u in wanted], deleted_at__isnull=True
        ).values_list(
            "uuid",
            "pk",
            "site_id",
            "identity__id",
            "identity__date_of_birth_enc",
            "death__id",
            "death__date_of_death",
            "death__deleted_at",
        )
        for u, pk, site_id, identity_id, dob_enc, death_id, death_date, death_deleted in rows:
            site = self.sites_by_pk[site_id]
            if not self.may_write(site):
                self.refused[("patients", u.int)] = site.ods_code
                continue
            self.refs["patients"][u.int] = PatientRef(
                site=site,
                pk=pk,
                existing=True,
                dob=_decrypted_date(dob_enc),
                has_identity=identity_id is not None,
                death=death_date if death_deleted is None else None,
                has_death=death_id is not None,
            )

    def fetch_procedures(self, wanted: set[int]) -> None:
        rows = list(
            m.Procedure._base_manager.filter(
                uuid__in=[uuid.UUID(int=u) for u in wanted], deleted_at__isnull=True
            ).values_list("uuid", "pk", "procedure_date", "patient__uuid", "baseline__id", "consent__id")
        )
        patients = self.refs["patients"]
        missing = {
            r[3].int for r in rows if r[3].int not in patients and ("patients", r[3].int) not in self.refused
        }
        if missing:
            self.fetch_patients(missing)
        for u, pk, day, patient_uuid, baseline_id, consent_id in rows:
            patient = patients.get(patient_uuid.int)
            if patient is None:
                code = self.refused.get(("patients", patient_uuid.int))
                if code is not None:
                    self.refused[("procedures", u.int)] = code
                continue
            self.refs["procedures"][u.int] = ProcedureRef(
                patient=patient,
                date=day,
                pk=pk,
                existing=True,
                has_baseline=baseline_id is not None,
                has_consent=consent_id is not None,
            )

    def fetch_rows(self, table: str, wanted: set[int]) -> None:
        model = next(t.model for t in TABLES if t.name == table)
        rows = model._base_manager.filter(
            uuid__in=[uuid.UUID(int=u) for u in wanted], deleted_at__isnull=True
        ).values_list("uuid", "pk", "procedure__patient__site_id")
        for u, pk, site_id in rows:
            site = self.sites_by_pk[site_id]
            if not self.may_write(site):
                self.refused[(table, u.int)] = site.ods_code
                continue
            self.refs[table][u.int] = RowRef(pk=pk)

    def fetch_latest_events(self, chunk: list[tuple[int, list[str]]], cells: list[_Cell]) -> None:
        """For deaths of patients already in the registry: their latest dated record there."""
        patient_cell = next((c for c in cells if c.name == "patient"), None)
        if patient_cell is None:
            return
        existing: dict[int, PatientRef] = {}
        for _line, row in chunk:
            key = _uuid_key_or_none(row[patient_cell.index]) if patient_cell.index < len(row) else None
            ref = self.refs["patients"].get(key) if key is not None else None
            if ref is not None and ref.existing and ref.pk is not None:
                existing[ref.pk] = ref
        if existing:
            for pk, day in latest_event_dates(list(existing)).items():
                ref = existing[pk]
                ref.latest = day if ref.latest is None else max(ref.latest, day)

    # --- one row ----------------------------------------------------------------------------------
    def check(
        self, spec: TableSpec, cells: list[_Cell], row: list[str], fname: str, line: int
    ) -> tuple[Any, Any] | None:
        """The row's new record (checked) and its reference for later rows; None if it has problems."""
        context = _Row()
        values: dict[str, Any] = {}  # by attname
        related: list[tuple[Any, Any]] = []  # (foreign key, the record or stand-in it points to)
        secrets: dict[str, str] = {}
        bad = False
        try:
            # Plain values first, in one go: a cell with a problem (rare) sends the row down the
            # cell-by-cell path below, which names every cell at fault.
            for index, attname, memo, parse in self.plain:
                text = row[index]
                value = memo.get(text, _UNSEEN)
                values[attname] = parse(text) if value is _UNSEEN else value
            rest = self.others
        except (ValidationError, IndexError):
            values.clear()
            rest = cells
        width = len(row)
        for cell in rest:
            text = row[cell.index] if cell.index < width else ""
            kind = cell.kind
            try:
                if kind == "value":
                    values[cell.attname] = cell.parse(text.strip())
                elif kind == "text":
                    values[cell.attname] = cell.parse(text)
                elif kind == "ref":
                    self.resolve(cell, text.strip(), context, values, related, fname, line)
                elif kind == "uuid":
                    text = text.strip()
                    key = self.keys.get(text)
                    if key is None and text:
                        key = _uuid_key(text)
                    context.uuid = uuid.uuid4() if key is None else uuid.UUID(int=key)
                    values["uuid"] = context.uuid
                else:
                    secrets[cell.name] = restore_cell(text.strip())
            except ValidationError as exc:
                self.report.add(fname, line, cell.name, "; ".join(exc.messages))
                bad = True
        if bad:
            return None
        obj = self.maker.new(values, related)
        if spec.name == "patient_identities" and not self.set_identifiers(obj, secrets, context, fname, line):
            return None
        if not self.unique(spec, obj, context, fname, line):
            return None
        if spec.name == "deaths" and context.patient is not None:
            # The death's check against the patient's later records, from what this import has seen (and,
            # for a patient already here, the registry). The bulk path checks it again from the database.
            obj._known_latest_event = context.patient.latest
        try:
            obj.prepare_for_save()
        except ValidationError as exc:
            self.report.add_validation_error(fname, line, exc)
            return None
        except Exception as exc:  # a broken reference chain shows up here: report it against the row
            self.report.add(fname, line, "", f"{type(exc).__name__}: {exc}")
            return None
        finally:
            obj.__dict__.pop("_known_latest_event", None)
        return obj, self.remember(spec, obj, context)

    def resolve(
        self,
        cell: _Cell,
        text: str,
        context: _Row,
        values: dict[str, Any],
        related: list[tuple[Any, Any]],
        fname: str,
        line: int,
    ) -> None:
        name, ref = cell.name, cell.column.references
        if text == "":
            related.append((cell.field, None))
            return
        if ref in ("sites", "operators", "users"):
            text = restore_cell(text)  # natural keys are text cells: the export's safe quote comes off
        if ref == "sites":
            site = self.sites.get(text.upper())
            if site is None:
                raise ValidationError(f"unknown site {text!r}")
            if not self.may_write(site):
                raise ValidationError(f"you may not import data for site {site.ods_code}")
            related.append((cell.field, site))
        elif ref == "operators":
            op = self.operators.get(text)
            if op is None:
                raise ValidationError(f"unknown operator {text!r} (expected ODS/code)")
            related.append((cell.field, op))
        elif ref == "users":
            if text not in self.users:
                self.users[text] = get_user_model().objects.filter(username=text).first()
            related.append((cell.field, self.users[text]))
            if self.users[text] is None:
                self.report.warn(fname, line, name, f"no user {text!r} here: left empty")
        elif ref in self.refs:
            key = self.keys.get(text)
            if key is None:
                key = _uuid_key(text)
            found = self.refs[ref].get(key)
            if found is None:
                code = self.refused.get((ref, key))
                if code is not None:
                    raise ValidationError(f"{ref[:-1]} {text} is at site {code}, where you may not import")
                raise ValidationError(f"no {ref[:-1]} with uuid {text} in this file or the registry")
            if ref == "patients":
                context.patient = found
                related.append((cell.field, self.stubs.patient(found)))
            elif ref == "procedures":
                context.procedure = found
                context.patient = context.patient or found.patient
                related.append((cell.field, self.stubs.procedure(found)))
            else:
                values[cell.attname] = found.pk  # nothing checks a visit's or reintervention's own fields
        else:
            raise ValidationError(f"cannot resolve a reference to {ref!r}")

    def set_identifiers(
        self, obj: Any, secrets: dict[str, str], context: _Row, fname: str, line: int
    ) -> bool:
        try:
            obj.nhs_number = secrets.get("nhs_number", "")
            obj.family_name = secrets.get("family_name", "")
            obj.given_name = secrets.get("given_name", "")
            dob = secrets.get("date_of_birth", "")
            context.dob = dt.date.fromisoformat(dob) if dob else None
            obj.date_of_birth = context.dob
            obj.postcode = secrets.get("postcode", "")
        except ValidationError as exc:
            self.report.add_validation_error(fname, line, exc)
            return False
        except ValueError:
            self.report.add(fname, line, "date_of_birth", "not an ISO date (YYYY-MM-DD)")
            return False
        return True

    def unique(self, spec: TableSpec, obj: Any, context: _Row, fname: str, line: int) -> bool:
        ok = True
        if context.uuid is not None:
            key = context.uuid.int
            seen = self.refs[spec.name] if spec.name in self.refs else self.seen.setdefault(spec.name, set())
            if key in self.taken:
                self.report.add(
                    fname, line, "uuid", f"{obj.uuid} is already in the registry (imports never merge)"
                )
                ok = False
            elif key in seen:
                self.report.add(fname, line, "uuid", f"{obj.uuid} appears twice in this file")
                ok = False
            elif isinstance(seen, set):
                seen.add(key)
        if spec.name == "patients":
            if obj.registry_id in self.taken_registry_ids:
                self.report.add(fname, line, "registry_id", f"{obj.registry_id} is already in the registry")
                ok = False
            elif obj.registry_id in self.registry_ids:
                self.report.add(fname, line, "registry_id", f"{obj.registry_id} appears twice in this file")
                ok = False
        one = ONE_TO_ONE.get(spec.name)
        if one is not None:
            parent_name, flag = one
            parent = context.procedure if parent_name == "procedure" else context.patient
            if parent is not None and getattr(parent, flag):
                self.report.add(
                    fname, line, parent_name, f"this {parent_name} already has a {spec.name} record"
                )
                ok = False
        return ok

    def remember(self, spec: TableSpec, obj: Any, context: _Row) -> Any:
        """Note what later rows need of this one; returns its reference (given its id once written)."""
        name = spec.name
        patient = context.patient
        day = getattr(obj, ALIVE_ON[name]) if name in ALIVE_ON else None
        if day is not None and patient is not None and not (name == "followups" and obj.alive == "no"):
            patient.latest = day if patient.latest is None else max(patient.latest, day)
        if name == "sites":
            self.sites[obj.ods_code] = obj
            self.state.add_site(obj)
        elif name == "site_governance":
            self.governed.add(obj.site.ods_code)
            self.state.add_site(obj.site)
        elif name == "operators":
            key = f"{obj.site.ods_code}/{obj.code}"
            self.operators[key] = obj
            self.operator_keys.add(key)
            self.state.add_site(obj.site)
        elif name == "patients":
            ref = PatientRef(site=obj.site)
            self.refs[name][obj.uuid.int] = ref
            self.registry_ids.add(obj.registry_id)
            self.state.add_site(obj.site)
            return ref
        elif name == "patient_identities" and patient is not None:
            patient.has_identity = True
            patient.dob = context.dob
        elif name == "deaths" and patient is not None:
            patient.has_death = True
            patient.death = obj.date_of_death
        elif name == "procedures":
            assert patient is not None
            ref = ProcedureRef(patient=patient, date=obj.procedure_date)
            self.refs[name][obj.uuid.int] = ref
            return ref
        elif name in ("baseline", "consent") and context.procedure is not None:
            setattr(context.procedure, ONE_TO_ONE[name][1], True)
        elif name in ("followups", "reinterventions"):
            ref = RowRef()
            self.refs[name][obj.uuid.int] = ref
            return ref
        if patient is not None:
            self.state.add_site(patient.site)
        return None

    def reuse(self, spec: TableSpec, row: list[str], header: list[str]) -> bool:
        """Sites, their governance and operators already here are reused, not duplicated."""
        if spec.name not in SITE_TABLES:
            return False
        cells = dict(zip(header, row, strict=False))
        if spec.name == "sites":
            return (cells.get("ods_code") or "").strip().upper() in self.sites
        site = (cells.get("site") or "").strip().upper()
        if spec.name == "site_governance":
            return site in self.governed
        return f"{site}/{(cells.get('code') or '').strip()}" in self.operator_keys

    def may_write(self, site: Any) -> bool:
        return self.allowed is None or site.pk in self.allowed


class _Parents:
    """Stand-ins for a row's parents, carrying what the model checks read of them, built from the references
    and kept for consecutive rows of the same parent: a procedure's ``patient`` and ``procedure_date``; a
    patient's ``site``, ``identity.date_of_birth`` and ``date_of_death``.

    They are bare instances holding only those fields: a check that reads any other field of a parent makes
    Django load it from the database (right on a real run, merely slower), and on a dry run, where the
    parent has only a stand-in id, fails loudly against the row, never silently with a default value."""

    def __init__(self) -> None:
        self.cache: dict[int, Any] = {}

    def clear(self) -> None:
        self.cache.clear()

    def _keep(self, ref: Any, stub: Any) -> Any:
        if len(self.cache) >= STUB_CACHE:
            self.cache.clear()
        self.cache[id(ref)] = (ref, stub)  # the reference is held so its id is not reused
        return stub

    def patient(self, ref: PatientRef) -> m.Patient:
        hit = self.cache.get(id(ref))
        if hit is not None:
            return hit[1]
        stub = _bare(m.Patient, id=ref.pk, site_id=ref.site.pk)
        m.Patient.site.field.set_cached_value(stub, ref.site)
        identity = _IdentityStandIn(ref.pk, ref.dob) if ref.has_identity else None
        m.Patient.identity.related.set_cached_value(stub, identity)
        death = (
            _bare(m.Death, id=None, patient_id=ref.pk, date_of_death=ref.death, deleted_at=None)
            if ref.death is not None
            else None
        )
        m.Patient.death.related.set_cached_value(stub, death)
        return self._keep(ref, stub)

    def procedure(self, ref: ProcedureRef) -> m.Procedure:
        hit = self.cache.get(id(ref))
        if hit is not None:
            return hit[1]
        stub = _bare(m.Procedure, id=ref.pk, patient_id=ref.patient.pk, procedure_date=ref.date)
        m.Procedure.patient.field.set_cached_value(stub, self.patient(ref.patient))
        return self._keep(ref, stub)


class _IdentityStandIn:
    """A patient's identity as the checks of later rows read it: its date of birth, held decrypted (each
    procedure reads it twice; decrypting it per read was a tenth of a procedure's check). Reading anything
    else of it raises AttributeError, reported against the row: never a silent default."""

    __slots__ = ("date_of_birth", "patient_id")
    age_on = m.PatientIdentity.age_on

    def __init__(self, patient_id: int | None, date_of_birth: dt.date | None) -> None:
        self.patient_id = patient_id
        self.date_of_birth = date_of_birth


class _RecordMaker:
    """A new record from parsed values, without Django's per-field ``__init__`` loop (the import makes
    millions): fields the file does not give get their defaults (callables called per record); foreign
    keys take the related record's id and cache it, as assigning them would (a one-to-one also caches the
    reverse side). With init signals connected it falls back to the model's own constructor."""

    def __init__(self, model: type, given: set[str]) -> None:
        self.model = model
        self.constants: dict[str, Any] = {}  # defaults that are one immutable value: set without a call
        self.defaults: list[tuple[str, Any]] = []
        for f in model._meta.concrete_fields:
            if f.attname in given:
                continue
            if f.has_default() and callable(f.default):
                self.defaults.append((f.attname, f._get_default))
                continue
            value = f.get_default()
            if isinstance(value, (str, int, float, bool, type(None))):
                self.constants[f.attname] = value
            else:
                self.defaults.append((f.attname, f._get_default))

    def new(self, values: dict[str, Any], related: list[tuple[Any, Any]]) -> Any:
        model = self.model
        if pre_init.receivers or post_init.receivers:
            return model(**values, **{f.name: obj for f, obj in related})
        obj = model.__new__(model)
        obj._state = ModelState()
        state = obj.__dict__
        state.update(self.constants)
        state.update(values)
        for attname, default in self.defaults:
            state[attname] = default()
        for f, target in related:
            state[f.attname] = None if target is None else getattr(target, f.target_field.attname)
            f.set_cached_value(obj, target)
            if target is not None and not f.remote_field.multiple:
                f.remote_field.set_cached_value(target, obj)
        return obj


def _present(model: type, name: str, values: list[Any]) -> set[Any]:
    """Which of ``values`` the column already holds (any row, removed ones too: uniqueness counts them)."""
    if not values:
        return set()
    if connection.vendor == "postgresql":
        # One array parameter instead of one parameter per value: building a 1,000-value IN costs more
        # than the lookup.
        f = model._meta.get_field(name)
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote(f.column)} FROM {quote(model._meta.db_table)} WHERE {quote(f.column)} = ANY(%s)",
                [list(values)],
            )
            return {row[0] for row in cursor.fetchall()}
    return set(model._base_manager.filter(**{f"{name}__in": values}).values_list(name, flat=True))


def _present_uuids(model: type, keys: list[int]) -> set[int]:
    """Which of the uuids (by 128-bit value) the table already holds, removed rows too."""
    if not keys:
        return set()
    if connection.vendor == "postgresql":
        # The array as one text literal: psycopg adapting 1,000 UUID objects one by one costs more than
        # the lookup itself.
        quote = connection.ops.quote_name
        table, column = quote(model._meta.db_table), quote(model._meta.get_field("uuid").column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {column}::text FROM {table} WHERE {column} = ANY(%s::uuid[])",
                ["{" + ",".join(f"{k:032x}" for k in keys) + "}"],
            )
            return {int(row[0].replace("-", ""), 16) for row in cursor.fetchall()}
    return {u.int for u in _present(model, "uuid", [uuid.UUID(int=k) for k in keys])}


def _decrypted_date(token: str | None) -> dt.date | None:
    raw = decrypt(token or "")
    return dt.date.fromisoformat(raw) if raw else None


def _bare(model: type, **values: Any) -> Any:
    """An instance of a saved record holding only ``values`` (no defaults computed: cheap to make)."""
    obj = model.__new__(model)
    obj._state = ModelState()
    obj._state.adding = False
    obj.__dict__.update(values)
    return obj


def _uuid_key(text: str) -> int:
    """A uuid's 128-bit value (the key of the references), from its usual 36-character text."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        try:
            return int(text.replace("-", ""), 16)
        except ValueError:
            pass
    try:
        return uuid.UUID(text).int  # other spellings uuid.UUID accepts (braces, no hyphens, urn:uuid:)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not a UUID") from exc


def _uuid_key_or_none(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return _uuid_key(text)
    except ValidationError:
        return None


# --- who may import, and the entry point -----------------------------------------------------------


def check_import_allowed(user: Any, path: Path, codes: set[str] | None = None) -> set[int] | None:
    """System administrators may import anything; a data manager only into sites where they hold full
    export rights (the sites must already exist). ``codes``: the sites the import writes to (default: those
    named in the file). Fails closed. Returns the ids of the sites the user may write to (None: any)."""
    from pdva.accounts.access import can

    if user is None or not user.is_active:
        raise ImportRefused("imports run as a named, active user")
    if user.is_superuser or can(user, Cap.ADMIN_REFERENCE):
        return None
    codes = site_codes_in(path) if codes is None else codes
    allowed_ids = site_ids_for(user, Cap.FULL_EXPORT)
    allowed = {
        s.ods_code
        for s in m.Site.objects.filter(ods_code__in=codes)
        if allowed_ids is None or s.pk in allowed_ids
    }
    refused = sorted(codes - allowed)
    if refused or not codes:
        raise ImportRefused(f"you may not import data for site(s) {', '.join(refused) or '(none named)'}")
    return allowed_ids


def import_path(
    path: Path,
    *,
    user: Any,
    dry_run: bool = False,
    redcap: RedcapOptions | None = None,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import a full export or dictionary CSVs, or (with ``redcap``, a RedcapOptions) a REDCap export.

    Refuses (ImportRefused) a user without the rights, or a file whose exact bytes were imported before."""
    path = Path(path)
    if redcap is None and is_redcap(path):
        raise ValueError(f"{path.name} is a REDCap export: name the registry site(s) its records belong to")
    undecodable = encoding_problems(path, redcap is not None)
    if undecodable:  # before anything reads the text (the rights check reads the site codes)
        report = ImportReport(source=path.name, sha256=source_sha256(path), dry_run=dry_run)
        for p in undecodable:
            report.add(p.file, p.row, p.field, p.problem)
        return report
    allowed = check_import_allowed(user, path, set(redcap.sites.values()) if redcap is not None else None)
    sha = source_sha256(path)
    refuse_if_loaded(sha)
    report = ImportReport(source=path.name, sha256=sha, dry_run=dry_run)

    def work(run: ImportRun) -> None:
        if redcap is not None:
            RedcapImporter(run, redcap, Source(path)).run()
        else:
            FullImporter(run, allowed_site_ids=allowed).run_path(path)

    kind = ImportBatch.KIND_REDCAP if redcap is not None else ImportBatch.KIND_FULL
    return run_import(report, user=user, kind=kind, work=work, progress=progress)
