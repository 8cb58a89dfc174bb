"""Import from a full export (or CSVs in the registry's dictionary format): all-or-nothing.

Every row is parsed against the dictionary and validated by the model's own rules (clean_for_save); problems
are collected as (file, row, field, problem). A real run writes everything in one transaction, audited with
the file's SHA-256; any problem, or a dry run, rolls everything back.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from pdva.accounts.access import can
from pdva.accounts.roles import Cap
from pdva.audit.context import audit_context
from pdva.exports.columns import RECOMPUTED, Column, full_columns
from pdva.exports.tables import TABLES, TableSpec
from pdva.registry import models as m

FLUSH_EVERY = 500
# Tables holding at most one row per parent record.
ONE_TO_ONE = {
    "baseline": "procedure",
    "consent": "procedure",
    "deaths": "patient",
    "patient_identities": "patient",
}


@dataclass(frozen=True)
class Problem:
    file: str
    row: int
    field: str
    problem: str


@dataclass
class ImportReport:
    source: str
    sha256: str
    dry_run: bool
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, file: str, row: int, name: str, problem: str) -> None:
        self.problems.append(Problem(file, row, name, problem))

    def as_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["severity", "file", "row", "field", "problem"])
        for kind, items in (("error", self.problems), ("warning", self.warnings)):
            for p in items:
                writer.writerow([kind, p.file, p.row, p.field, p.problem])
        return buffer.getvalue()

    def summary(self) -> str:
        verb = "would import" if self.dry_run else ("imported" if self.committed else "imported nothing from")
        counts = ", ".join(f"{n} {t}" for t, n in self.created.items() if n) or "no rows"
        text = f"{verb} {self.source} (sha256 {self.sha256[:16]}…): {counts}"
        if self.problems:
            text += f"; {len(self.problems)} problem(s): nothing was changed"
        return text


class ImportRefused(PermissionError):
    pass


class _Rollback(Exception):
    pass


# --- reading the source ------------------------------------------------------------------------


def source_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


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


def site_codes_in(path: Path) -> set[str]:
    """ODS codes of every site the file touches (checked against the importing user's rights)."""
    codes: set[str] = set()
    for spec, _name, stream in table_streams(path):
        reader = csv.DictReader(stream)
        key = (
            "ods_code"
            if spec.name == "sites"
            else "site"
            if spec.name in ("patients", "site_governance", "operators")
            else None
        )
        if key is None:
            continue
        codes |= {row.get(key, "").strip().upper() for row in reader if row.get(key)}
    return codes


# --- parsing values ----------------------------------------------------------------------------


def parse_value(f: models.Field, text: str) -> Any:
    """Text from a CSV cell to a clean Python value for the model field (raises ValidationError)."""
    if text == "":
        if f.null:
            return None
        if isinstance(f, (models.CharField, models.TextField)):
            value: Any = ""
        elif f.has_default():
            return f.get_default()
        else:
            raise ValidationError("a value is required")
    elif isinstance(f, models.JSONField):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON ({exc.msg})") from exc
    elif isinstance(f, models.BooleanField):
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValidationError(f"{text!r} is not true or false")
        value = lowered in ("true", "1", "yes")
    elif isinstance(f, models.DateTimeField):
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(f"{text!r} is not an ISO date-time") from exc
        if value.tzinfo is None:
            raise ValidationError("date-times must carry a time zone (UTC, ending Z)")
    else:
        value = f.to_python(text)
    if f.editable:
        f.validate(value, None)
        f.run_validators(value)
    return value


# --- the importer --------------------------------------------------------------------------------


class Importer:
    def __init__(self, report: ImportReport, reason: str) -> None:
        self.report = report
        self.reason = reason
        self.sites = {s.ods_code: s for s in m.Site.objects.all()}
        self.operators: dict[str, m.Operator] = {}
        self.by_uuid: dict[str, dict[str, Any]] = {
            "patients": {},
            "procedures": {},
            "followups": {},
            "reinterventions": {},
        }
        self.users: dict[str, Any] = {}
        self.seen_one_to_one: set[tuple[str, str]] = set()

    # references -------------------------------------------------------------------------------
    def resolve(self, col: Column, text: str) -> Any:
        if text == "":
            return None
        ref = col.references
        if ref == "sites":
            site = self.sites.get(text.strip().upper())
            if site is None:
                raise ValidationError(f"unknown site {text!r}")
            return site
        if ref == "operators":
            op = self.operators.get(text)
            if op is None:
                ods, _, code = text.partition("/")
                op = m.Operator.objects.filter(site__ods_code=ods, code=code, deleted_at__isnull=True).first()
                if op is None:
                    raise ValidationError(f"unknown operator {text!r} (expected ODS/code)")
                self.operators[text] = op
            return op
        if ref == "users":
            if text not in self.users:
                self.users[text] = get_user_model().objects.filter(username=text).first()
            return self.users[text]
        if ref in self.by_uuid:
            obj = self.by_uuid[ref].get(text)
            if obj is None:
                model = next(t.model for t in TABLES if t.name == ref)
                obj = model._base_manager.filter(uuid=_uuid(text), deleted_at__isnull=True).first()
                if obj is None:
                    raise ValidationError(f"no {ref[:-1]} with uuid {text} in this file or the registry")
            return obj
        raise ValidationError(f"cannot resolve a reference to {ref!r}")

    # rows -------------------------------------------------------------------------------------
    def build(
        self, spec: TableSpec, columns: dict[str, Column], row: dict[str, str], fname: str, line: int
    ) -> Any:
        model = spec.model
        derived = RECOMPUTED.get(model._meta.model_name, set())
        values: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        bad = False
        for name, text in row.items():
            col = columns.get(name)
            if col is None or name in derived:
                continue
            text = (text or "").strip() if col.type != "text" else (text or "")
            try:
                if spec.name == "patient_identities" and name != "patient":
                    secrets[name] = text
                elif col.type == "reference":
                    values[name] = self.resolve(col, text)
                    if values[name] is None and text and col.references == "users":
                        self.report.warnings.append(
                            Problem(fname, line, name, f"no user {text!r} here: left empty")
                        )
                elif name == "uuid":
                    values[name] = _uuid(text) if text else uuid.uuid4()
                else:
                    values[name] = parse_value(col.model_field, text)
            except ValidationError as exc:
                self.report.add(fname, line, name, "; ".join(exc.messages))
                bad = True
        if bad:
            return None
        obj = model(**values)
        if spec.name == "patient_identities":
            try:
                obj.nhs_number = secrets.get("nhs_number", "")
                obj.family_name = secrets.get("family_name", "")
                obj.given_name = secrets.get("given_name", "")
                dob = secrets.get("date_of_birth", "")
                obj.date_of_birth = dt.date.fromisoformat(dob) if dob else None
                obj.postcode = secrets.get("postcode", "")
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    self.report.add(fname, line, key, "; ".join(messages))
                return None
            except ValueError:
                self.report.add(fname, line, "date_of_birth", "not an ISO date (YYYY-MM-DD)")
                return None
        return obj

    def check_unique(self, spec: TableSpec, obj: Any, fname: str, line: int) -> bool:
        model = spec.model
        if hasattr(obj, "uuid") and model._base_manager.filter(uuid=obj.uuid).exists():
            self.report.add(
                fname, line, "uuid", f"{obj.uuid} is already in the registry (imports never merge)"
            )
            return False
        if spec.name == "patients" and m.Patient._base_manager.filter(registry_id=obj.registry_id).exists():
            self.report.add(fname, line, "registry_id", f"{obj.registry_id} is already in the registry")
            return False
        parent_name = ONE_TO_ONE.get(spec.name)
        if parent_name:
            parent = getattr(obj, parent_name)
            key = (spec.name, str(parent.uuid))
            taken = parent.pk is not None and model._base_manager.filter(**{parent_name: parent}).exists()
            if key in self.seen_one_to_one or taken:
                self.report.add(
                    fname, line, parent_name, f"this {parent_name} already has a {spec.name} record"
                )
                return False
            self.seen_one_to_one.add(key)
        return True

    def load(self, spec: TableSpec, fname: str, stream: io.TextIOBase) -> None:
        table = full_columns(spec)
        columns = {c.name: c for c in table.columns}
        reader = csv.DictReader(stream)
        header = reader.fieldnames or []
        for name in header:
            if name not in columns:
                self.report.add(fname, 1, name, f"unknown column for table {spec.name}")
        for c in table.columns:
            if c.required and c.name not in header and c.name != "uuid":
                self.report.add(fname, 1, c.name, "required column is missing")
        if any(p.file == fname and p.row == 1 for p in self.report.problems):
            return
        pending: list[tuple[int, Any]] = []
        created = reused = 0
        for row in reader:
            line = reader.line_num
            if None in row:
                self.report.add(fname, line, "", "more cells than columns")
                continue
            existing = self.reuse(spec, row)
            if existing is not None:
                reused += 1
                continue
            obj = self.build(spec, columns, row, fname, line)
            if obj is None or not self.check_unique(spec, obj, fname, line):
                continue
            try:
                obj.prepare_for_save()
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    self.report.add(fname, line, key, "; ".join(messages))
                continue
            except Exception as exc:  # a broken reference chain shows up here: report it against the row
                self.report.add(fname, line, "", f"{type(exc).__name__}: {exc}")
                continue
            pending.append((line, obj))
            self.remember(spec, obj)
            if len(pending) >= FLUSH_EVERY:
                created += self.flush(spec, fname, pending)
                pending = []
        created += self.flush(spec, fname, pending)
        self.report.created[spec.name] = created
        if reused:
            self.report.reused[spec.name] = reused

    def reuse(self, spec: TableSpec, row: dict[str, str]) -> Any:
        """Sites, their governance and operators already here are reused, not duplicated."""
        if spec.name == "sites":
            return self.sites.get((row.get("ods_code") or "").strip().upper())
        if spec.name == "site_governance":
            site = self.sites.get((row.get("site") or "").strip().upper())
            return m.SiteGovernance.objects.filter(site=site).first() if site and site.pk else None
        if spec.name == "operators":
            key = f"{(row.get('site') or '').strip().upper()}/{(row.get('code') or '').strip()}"
            op = m.Operator.objects.filter(site__ods_code=key.split("/")[0], code=key.split("/")[1]).first()
            if op is not None:
                self.operators[key] = op
            return op
        return None

    def remember(self, spec: TableSpec, obj: Any) -> None:
        if spec.name == "sites":
            self.sites[obj.ods_code] = obj
        elif spec.name == "operators":
            self.operators[f"{obj.site.ods_code}/{obj.code}"] = obj
        elif spec.name in self.by_uuid:
            self.by_uuid[spec.name][str(obj.uuid)] = obj

    def flush(self, spec: TableSpec, fname: str, pending: list[tuple[int, Any]]) -> int:
        if not pending or self.report.problems:
            return 0  # after the first problem only validation continues: nothing more is written
        try:
            with transaction.atomic():
                spec.model.objects.audited_bulk_create([obj for _line, obj in pending], reason=self.reason)
        except IntegrityError as exc:
            first, last = pending[0][0], pending[-1][0]
            self.report.add(fname, first, "", f"rows {first}-{last} conflict with the registry: {exc}")
            return 0
        except ValidationError as exc:
            self.report.add(fname, pending[0][0], "", "; ".join(exc.messages))
            return 0
        return len(pending)


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not a UUID") from exc


def check_import_allowed(user: Any, path: Path, codes: set[str] | None = None) -> None:
    """System administrators may import anything; a data manager only into sites where they hold full
    export rights (the sites must already exist). ``codes``: the sites the import writes to (default: those
    named in the file). Fails closed."""
    if user is None or not user.is_active:
        raise ImportRefused("imports run as a named, active user")
    if user.is_superuser or can(user, Cap.ADMIN_REFERENCE):
        return
    codes = site_codes_in(path) if codes is None else codes
    allowed = {
        s.ods_code for s in m.Site.objects.filter(ods_code__in=codes) if can(user, Cap.FULL_EXPORT, s.pk)
    }
    refused = sorted(codes - allowed)
    if refused or not codes:
        raise ImportRefused(f"you may not import data for site(s) {', '.join(refused) or '(none named)'}")


def import_path(path: Path, *, user: Any, dry_run: bool = False, redcap: Any = None) -> ImportReport:
    """Import a full export or dictionary CSVs, or (with ``redcap``, a RedcapOptions) a REDCap export."""
    from pdva.exports.redcap_import import RedcapImporter, Source, is_redcap

    path = Path(path)
    if redcap is None and is_redcap(path):
        raise ValueError(f"{path.name} is a REDCap export: name the registry site(s) its records belong to")
    check_import_allowed(user, path, set(redcap.sites.values()) if redcap is not None else None)
    sha = source_sha256(path)
    report = ImportReport(source=path.name, sha256=sha, dry_run=dry_run)
    reason = f"import {sha}"
    with audit_context(user, reason=reason):
        try:
            with transaction.atomic():
                if redcap is not None:
                    RedcapImporter(report, reason, redcap, Source(path)).run()
                else:
                    importer = Importer(report, reason)
                    for spec, fname, stream in table_streams(path):
                        importer.load(spec, fname, stream)
                if report.problems or dry_run:
                    raise _Rollback
                report.committed = True
        except _Rollback:
            report.committed = False
    return report
