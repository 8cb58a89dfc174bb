"""What every import shares (full export / dictionary CSVs, REDCap): the report of problems by file, line and
field; text-to-value parsing against the model field; the file's SHA-256 and the batch record that refuses a
second load of the same file; and the one transaction an import runs in.

An import is all or nothing: the whole run is one transaction, so a problem, a dry run, an exception or a
kill -9 leaves no record and no audit entry behind (PostgreSQL discards an uncommitted transaction when its
connection dies; SQLite rolls its journal back on the next open). Records go through the bulk audited path
(``BulkWriter``), so every one has its "created" audit entry in the chain. The chain head stays locked from
the first insert to the commit: other writers wait for a large import, so load history out of hours.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from pdva.audit.bulk import BulkWriter
from pdva.audit.context import audit_context
from pdva.exports.lib import neutralise_row, restore_cell
from pdva.exports.models import ImportBatch

CHUNK = 1000  # rows read, looked up, checked and written together (memory is bounded by this, not the file)
# The longest cell an import reads: far above any text field's limit (pdva.registry.models.base) and any
# JSON value, so a site's own export always reads back; a longer cell is a problem on its line, not a crash.
CELL_LIMIT = 16 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), CELL_LIMIT))
MAX_PROBLEMS = 10_000  # problems kept for the report; beyond this they are only counted

ProgressFn = Callable[[int, int], None]
# Per table, the date of a record that shows the patient alive that day (followups: unless marked dead): what
# an import tracks per patient to check a death against (the rule of Death.latest_event_date).
ALIVE_ON = {
    "procedures": "procedure_date",
    "followups": "visit_date",
    "adverse_events": "onset_date",
    "reinterventions": "date",
    "amputations": "date",
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
    problem_count: int = 0  # every problem found, including those beyond MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return not self.problem_count

    def add(self, file: str, row: int, name: str, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(file, row, name, problem))

    def warn(self, file: str, row: int, name: str, problem: str) -> None:
        if len(self.warnings) < MAX_PROBLEMS:
            self.warnings.append(Problem(file, row, name, problem))

    def add_validation_error(
        self, file: str, row: int, exc: ValidationError, name_of: Callable[[str], str] = str
    ) -> None:
        if hasattr(exc, "error_dict"):
            for key, messages in exc.message_dict.items():
                self.add(file, row, "" if key == "__all__" else name_of(key), "; ".join(messages))
        else:
            self.add(file, row, "", "; ".join(exc.messages))

    def as_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["severity", "file", "row", "field", "problem"])
        for kind, items in (("error", self.problems), ("warning", self.warnings)):
            for p in items:
                writer.writerow(neutralise_row([kind, p.file, p.row, p.field, p.problem]))
        if self.problem_count > len(self.problems):
            writer.writerow(
                ["error", "", "", "", f"{self.problem_count - len(self.problems)} more not listed"]
            )
        return buffer.getvalue()

    def summary(self) -> str:
        verb = "would import" if self.dry_run else ("imported" if self.committed else "imported nothing from")
        counts = ", ".join(f"{n} {t}" for t, n in self.created.items() if n) or "no rows"
        text = f"{verb} {self.source} (sha256 {self.sha256[:16]}…): {counts}"
        if self.problem_count:
            text += f"; {self.problem_count} problem(s): nothing was changed"
        return text


class ImportRefused(PermissionError):
    pass


class _Rollback(Exception):
    pass


# --- the file -----------------------------------------------------------------------------------


def source_sha256(path: Path) -> str:
    """SHA-256 of the file (of a directory: of its CSVs, by name, in name order)."""
    digest = hashlib.sha256()
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def count_lines(stream: io.TextIOBase) -> int:
    """Lines in a text stream, read in blocks (for the progress total; quoted newlines count too)."""
    lines = 0
    while block := stream.read(1 << 20):
        lines += block.count("\n")
    return lines


class UnreadableCsv(ValueError):
    """A line the CSV reader cannot read (a cell over CELL_LIMIT): reported on its line; the rest of that
    file is not read."""

    def __init__(self, line: int, problem: str, file: str = "") -> None:
        super().__init__(f"{file or 'line'} {line}: {problem}")
        self.line = line
        self.problem = problem
        self.file = file


def unreadable(line: int, exc: csv.Error, file: str = "") -> UnreadableCsv:
    if "field larger than field limit" in str(exc):
        return UnreadableCsv(
            line, f"a cell is longer than {CELL_LIMIT:,} characters: the rest of this file is not read", file
        )
    return UnreadableCsv(line, f"not readable as CSV ({exc}): the rest of this file is not read", file)


def read_csv(reader: Any, file: str = "") -> Iterator[Any]:
    """The rows of a csv reader (or DictReader), a csv.Error raised as UnreadableCsv naming its line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise unreadable(reader.line_num, exc, file) from None


def csv_rows(stream: io.TextIOBase) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of (line number, cells) for each non-blank row, read one at a time.
    A line the reader cannot read raises UnreadableCsv (with its line number)."""
    reader = csv.reader(stream)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise unreadable(reader.line_num, exc) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for cells in reader:
                if cells:
                    yield reader.line_num, cells
        except csv.Error as exc:
            raise unreadable(reader.line_num, exc) from None

    return header, rows()


def first_undecodable(stream: BinaryIO) -> tuple[int, int, int, str] | None:
    """Where a byte stream stops being UTF-8: (line, column, byte offset, reason), all counted in bytes
    from 1 (column) and 0 (offset); None when it is all UTF-8. Read in blocks: memory stays flat."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = newlines = 0
    last_newline = -1  # byte offset of the last newline before the current block
    while block := stream.read(1 << 20):
        pending = decoder.getstate()[0]  # an incomplete sequence from the last block (never a newline)
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            bad = offset - len(pending) + exc.start
            head = block[: max(0, exc.start - len(pending))]
            if b"\n" in head:
                last_newline = offset + head.rindex(b"\n")
            return newlines + head.count(b"\n") + 1, bad - last_newline, bad, exc.reason
        count = block.count(b"\n")
        if count:
            newlines += count
            last_newline = offset + block.rindex(b"\n")
        offset += len(block)
    pending = decoder.getstate()[0]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        bad = offset - len(pending)
        return newlines + 1, bad - last_newline, bad, exc.reason
    return None


def encoding_problem(file: str, stream: BinaryIO) -> Problem | None:
    found = first_undecodable(stream)
    if found is None:
        return None
    line, column, offset, reason = found
    return Problem(
        file,
        line,
        "",
        f"not UTF-8 text at line {line}, column {column} (byte offset {offset}: {reason}): "
        "save the file as UTF-8 and import it again",
    )


def chunks(rows: Iterator[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- parsing values ----------------------------------------------------------------------------


def parse_value(f: models.Field, text: str) -> Any:
    """Text from a CSV cell to a clean Python value for the model field (raises ValidationError)."""
    return cell_parser(f)(text)


MUST_PARSE = (
    object()
)  # empty_cell_value(): an empty cell of this field needs the parser (an error or a fresh value)


@cache
def empty_cell_value(f: models.Field) -> Any:
    """What an empty cell always parses to, when that is one fixed immutable value (callers skip the parser
    for the many empty optional cells); else MUST_PARSE."""
    if f.null:
        return None
    if isinstance(f, (models.CharField, models.TextField)):
        return "" if f.blank or not f.editable else MUST_PARSE
    if f.has_default() and not callable(f.default) and isinstance(f.default, (str, int, float, bool)):
        return f.default
    return MUST_PARSE


MEMO_SIZE = 4096  # parsed values remembered per column (most columns repeat a few codes, dates or numbers)
_IMMUTABLE = frozenset({str, int, bool, float, Decimal, dt.date, dt.datetime, uuid.UUID, type(None)})


def remembering_parser(f: models.Field, *, strip: bool) -> tuple[dict[str, Any], Callable[[str], Any]]:
    """A column's memo (cell text -> parsed value) and the parser that fills it. The caller looks a cell up
    in the memo first and calls the parser only for text it has not seen. Parsing is a pure function of the
    text, so a remembered value is what parsing again would give; only successes of immutable values are
    kept (an error is raised again, a fresh default or JSON value is made again), at most MEMO_SIZE texts."""
    memo: dict[str, Any] = {}
    parse = cell_parser(f)
    empty = empty_cell_value(f) if strip else MUST_PARSE
    immutable = _IMMUTABLE
    if isinstance(f, models.JSONField):
        return memo, _remembering_json_parser(parse, strip=strip)

    def parse_and_remember(text: str) -> Any:
        clean = text.strip() if strip else text
        value = empty if not clean and empty is not MUST_PARSE else parse(clean)
        if type(value) in immutable and len(memo) < MEMO_SIZE:
            memo[text] = value
        return value

    return memo, parse_and_remember


def _remembering_json_parser(parse: Callable[[str], Any], *, strip: bool) -> Callable[[str], Any]:
    """JSON cells (code lists, PROM responses) repeat too, but a record must get its own list or dict: a
    flat one of immutable items is remembered and handed out as a fresh shallow copy."""
    seen: dict[str, Any] = {}

    def parse_json(text: str) -> Any:
        known = seen.get(text)
        if known is not None:
            return type(known)(known)
        value = parse(text.strip() if strip else text)
        if len(seen) < MEMO_SIZE and _flat(value):
            seen[text] = type(value)(value)
        return value

    return parse_json


def _flat(value: Any) -> bool:
    immutable = _IMMUTABLE
    if type(value) is list:
        return all(type(v) in immutable for v in value)
    if type(value) is dict:
        return all(type(v) in immutable for v in value.values())  # JSON keys are always strings
    return False


@cache
def cell_parser(f: models.Field) -> Callable[[str], Any]:
    """A parser for one model field's cells: the conversion is chosen once per field, not per cell, and the
    field's own checks (choices, null/blank, validators) give the same errors as a form would."""
    if isinstance(f, models.JSONField):
        convert: Callable[[str], Any] = _json_value
    elif isinstance(f, models.BooleanField):
        convert = _boolean_value
    elif isinstance(f, models.DateTimeField):
        convert = _datetime_value
    elif isinstance(f, models.DateField):
        convert = _date_converter(f)
    elif isinstance(f, models.IntegerField) and not f.choices:
        convert = _int_converter(f)
    elif isinstance(f, (models.CharField, models.TextField)):
        convert = restore_cell  # the export's spreadsheet-safe quote, taken off again
    else:
        convert = f.to_python
    text_like = isinstance(f, (models.CharField, models.TextField))
    is_json = isinstance(f, models.JSONField)
    valid_choices = frozenset(k for k, _label in f.flatchoices) if f.choices else None
    validators = f.validators
    within_limits = _limits_check(validators)
    editable = f.editable

    def parse(text: str) -> Any:
        if text == "":
            if f.null:
                return None
            if not text_like:
                if f.has_default():
                    return f.get_default()
                raise ValidationError("a value is required")
            if editable:
                f.validate("", None)
            return ""
        value = convert(text)
        if not editable:
            return value
        # Django's own checks only where they can fail: a known choice, or a value inside the validators'
        # plain limits, is fine (the common case, done without Django's loops); otherwise Django decides.
        if valid_choices is not None:
            if value in valid_choices:
                return value
            f.validate(value, None)
        elif is_json and (value is None or value in f.empty_values):
            f.validate(value, None)  # a non-empty cell converted to a value: only JSON can come out blank
        if validators and not (within_limits is not None and within_limits(value)):
            f.run_validators(value)
        return value

    return parse


def _limits_check(validators: list[Any]) -> Callable[[Any], bool] | None:
    """A quick test that a value passes validators that are only length or range limits (None: others)."""
    longest = lowest = highest = None
    for v in validators:
        limit = getattr(v, "limit_value", None)
        if limit is None or callable(limit):
            return None
        if type(v) is MaxLengthValidator:
            longest = limit
        elif type(v) is MinValueValidator:
            lowest = limit if lowest is None else max(lowest, limit)
        elif type(v) is MaxValueValidator:
            highest = limit if highest is None else min(highest, limit)
        else:
            return None
    if longest is not None:
        if lowest is not None or highest is not None:
            return None
        return lambda x: len(x) <= longest
    if lowest is not None and highest is not None:
        return lambda x: lowest <= x <= highest
    if lowest is not None:
        return lambda x: x >= lowest
    if highest is not None:
        return lambda x: x <= highest
    return None


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON ({exc.msg})") from exc


def _boolean_value(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValidationError(f"{text!r} is not true or false")
    return lowered in ("true", "1", "yes")


def _datetime_value(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not an ISO date-time") from exc
    if value.tzinfo is None:
        raise ValidationError("date-times must carry a time zone (UTC, ending Z)")
    return value


def _date_converter(f: models.Field) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return dt.date.fromisoformat(text)  # what Django's parse_date tries first
        except ValueError:
            return f.to_python(text)  # its own error message

    return convert


def _int_converter(f: models.Field) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return int(text)
        except ValueError:
            return f.to_python(text)

    return convert


# --- the batch record ----------------------------------------------------------------------------


def refusal(batch: ImportBatch) -> str:
    who = batch.imported_by.get_username() if batch.imported_by_id else "the system"
    when = timezone.localtime(batch.created_at).strftime("%d %b %Y %H:%M %Z") if batch.created_at else "?"
    return (
        f"this file (sha256 {batch.sha256[:16]}…) was already imported on {when} by {who} "
        f"as {batch.source_name} ({batch.records:,} records): it is not loaded twice"
    )


def refuse_if_loaded(sha256: str) -> None:
    batch = ImportBatch.objects.select_related("imported_by").filter(sha256=sha256).first()
    if batch is not None:
        raise ImportRefused(refusal(batch))


# --- the run -------------------------------------------------------------------------------------


@dataclass
class ImportRun:
    """What an importer is given: the report to fill, the writer (None on a dry run) and the reason."""

    report: ImportReport
    writer: BulkWriter | None
    reason: str
    progress: ProgressFn | None = None
    sites: dict[int, Any] = field(default_factory=dict)  # sites the import wrote records for, by id()

    def add_site(self, site: Any) -> None:
        self.sites[id(site)] = site  # by id(): a new site has no primary key (so no hash) until written

    @property
    def writing(self) -> bool:
        """Still writing: a real run with no problem so far. After the first problem only checks go on, so
        the report lists everything wrong with the file in one pass."""
        return self.writer is not None and not self.report.problem_count

    def flush(self, file: str, lines: list[int], objs: list[Any]) -> bool:
        """Write what the writer holds (a savepoint, so a refused insert leaves the run able to check on)."""
        assert self.writer is not None
        if not self.writing:
            self.writer.pending.clear()
            return False
        try:
            with transaction.atomic():
                self.writer.flush()
        except (IntegrityError, ValidationError, ObjectDoesNotExist) as exc:
            self.writer.pending.clear()
            self.report_failed_flush(file, lines, objs, exc)
            return False
        return True

    def report_failed_flush(self, file: str, lines: list[int], objs: list[Any], exc: Exception) -> None:
        # The bulk path checks each record again: find the line(s) it refused, else name the range.
        found = False
        if not isinstance(exc, IntegrityError):
            for line, obj in zip(lines, objs, strict=True):
                try:
                    obj.prepare_for_save()
                except ValidationError as row_exc:
                    self.report.add_validation_error(file, line, row_exc)
                    found = True
                except ObjectDoesNotExist as row_exc:
                    self.report.add(file, line, "", f"{type(row_exc).__name__}: {row_exc}")
                    found = True
        if not found:
            first, last = (lines[0], lines[-1]) if lines else (0, 0)
            self.report.add(file, first, "", f"rows {first}-{last} could not be saved: {exc}")


def run_import(
    report: ImportReport,
    *,
    user: Any,
    kind: str,
    work: Callable[[ImportRun], None],
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Run ``work`` in one transaction, audited to ``user`` with the reason "import <sha256>"; commit only
    a real run without problems, and record its batch (which refuses a second load of the same file)."""
    reason = f"import {report.sha256}"
    with audit_context(user, reason=reason):
        try:
            with transaction.atomic():
                if not report.dry_run:
                    refuse_if_loaded(report.sha256)  # again, inside the transaction (another may have won)
                run = ImportRun(
                    report, None if report.dry_run else BulkWriter(reason=reason), reason, progress=progress
                )
                work(run)
                if report.problem_count or report.dry_run:
                    raise _Rollback
                _record_batch(run, user=user, kind=kind)
                report.committed = True
        except _Rollback:
            report.committed = False
    return report


def _record_batch(run: ImportRun, *, user: Any, kind: str) -> None:
    report = run.report
    sites = [s for s in run.sites.values() if s is not None]
    batch = ImportBatch(
        sha256=report.sha256,
        source_name=report.source[:255],
        kind=kind,
        imported_by=user if getattr(user, "pk", None) else None,
        site=sites[0] if len(sites) == 1 else None,
        created={table: n for table, n in report.created.items() if n},
    )
    try:
        with transaction.atomic():
            batch.save(reason=run.reason)
    except IntegrityError:
        # The same file committed by someone else while this run was loading it.
        existing = ImportBatch.objects.select_related("imported_by").filter(sha256=report.sha256).first()
        raise ImportRefused(
            refusal(existing) if existing else "this file is being imported already"
        ) from None
