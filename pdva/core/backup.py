"""Consistent online backup and restore at national scale, portable between SQLite and PostgreSQL.

A backup is one gzip-compressed file, read in one snapshot transaction so it is consistent while the
registry is in use. Control lines are JSON objects; each table's rows are in PostgreSQL's COPY text format
(one row per line, tab-separated, ``\\N`` for NULL, backslash escapes), framed by counts:

    {"format": "pdva-backup", "version": 2, "tables": [...], "migrations": [...], ...}   header
    {"table": "registry_patient", "columns": ["id", "site_id", ...], "rows": 50000}       then 50,000 rows
    1<TAB>3<TAB>...
    {"end": "registry_patient", "rows": 50000}
    ...
    {"complete": true, "rows": 2345678}                                                   trailer

Rows are the stored column values as they are (primary keys, and the audit entries with their hashes and
seals): a restore reproduces the database, it does not create new records. On PostgreSQL both sides are
the database's own COPY, streamed (the backup never holds a table, the restore never reads the file whole);
on SQLite rows go through Django's field conversions and are inserted in batches. Either side reads the
other's backups.

A restore migrates a new database to the backup's schema, refuses a database that holds data (unless
forced), loads everything in one transaction, and verifies the whole audit chain with the audit key
before it commits: a damaged, truncated or tampered backup leaves no row behind.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import hashlib
import hmac
import json
import multiprocessing
import os
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from pdva.audit import chain
from pdva.audit.bulk import dependency_order
from pdva.audit.models import AuditEntry
from pdva.audit.triggers import append_only_suspended
from pdva.audit.verify import FIELDS as AUDIT_FIELDS
from pdva.audit.verify import verify_chain
from pdva.core.lib import sealed

FORMAT = "pdva-backup"
VERSION = 2
SUFFIX = ".jsonl.gz"
LEGACY_SUFFIX = ".json.gz"  # version 1 was a Django fixture: still restorable (in memory, row by row)
COMPRESSLEVEL = 1  # gzip -1 keeps up with COPY; -9 would make compression the bottleneck
READ_CHUNK = 4 * 1024 * 1024
SQLITE_BATCH = 2000
BACKED_UP_OUTSIDE_PDVA = ("auth.User", "otp_totp.TOTPDevice")

Progress = Callable[[int, int], None]


class RestoreRefused(RuntimeError):
    """The restore did not happen (no row was written); the message says why."""


class SealedRefused(RestoreRefused):
    """An encrypted backup that cannot be opened (no key, another key, altered, truncated)."""


class BackupRefused(RuntimeError):
    """The backup could not be written completely; no file was left behind."""


# --- what a backup holds ------------------------------------------------------------------------------


def backup_models(registry: Any = None) -> list[type[models.Model]]:
    """Every registry table, and the users and their two-factor devices, parents before children.

    ``registry`` is an app registry: the running code's (default) or a historical one from the migration
    graph, for a database at an older schema.
    """
    registry = registry or apps
    labels = {config.label for config in apps.get_app_configs() if config.name.startswith("pdva.")}
    wanted = [
        model
        for model in registry.get_models(include_auto_created=True)
        if not model._meta.proxy
        and model._meta.managed
        and (model._meta.app_label in labels or model._meta.label in BACKED_UP_OUTSIDE_PDVA)
    ]
    return dependency_order(wanted)


@dataclass(frozen=True)
class Table:
    model: type[models.Model]

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    @property
    def fields(self) -> list[models.Field]:
        return list(self.model._meta.concrete_fields)

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.fields]

    @property
    def is_audit_log(self) -> bool:
        return self.name == AuditEntry._meta.db_table

    @property
    def order_column(self) -> str:
        """Rows are written in primary-key order; the audit log in chain order, so a restore can verify the
        chain as it streams past."""
        return "seq" if self.is_audit_log else self.model._meta.pk.column


def backup_tables(registry: Any = None) -> list[Table]:
    """The tables of backup_models() that exist in this database."""
    existing = set(connection.introspection.table_names())
    return [Table(model) for model in backup_models(registry) if model._meta.db_table in existing]


def _leaves(graph: Any, nodes: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The migrations in ``nodes`` that no other migration in ``nodes`` builds on."""
    return sorted(
        key for key in nodes if not any(child.key in nodes for child in graph.node_map[key].children)
    )


def _schema_registry(executor: MigrationExecutor) -> Any:
    """The models as the database's applied migrations define them: the running code's when the database
    is fully migrated, else the historical models at its migrations (an older backup, before the upgrade)."""
    graph = executor.loader.graph
    if not executor.migration_plan(graph.leaf_nodes()):
        return apps
    applied = set(executor.loader.applied_migrations)
    return executor.loader.project_state(_leaves(graph, applied & set(graph.nodes)), at_end=True).apps


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _refuse_unbacked_user_data() -> None:
    """Groups and per-user permissions are not used by the registry (roles are memberships) and are not in
    a backup: refuse rather than silently drop them if someone has set them up."""
    user = apps.get_model("auth", "User")
    for name in ("groups", "user_permissions"):
        if user._meta.get_field(name).remote_field.through.objects.exists():
            raise BackupRefused(
                f"users have Django {name.replace('_', ' ')} set, which a pdva backup does not carry "
                "(the registry grants access through site memberships); remove them first"
            )


# --- COPY text format -----------------------------------------------------------------------------

_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_COPY_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_TO_COPY = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _unescape_match(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] == "x" and len(code) > 1:
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    return _COPY_ESCAPES.get(code, code)


def copy_field(text: str) -> str | None:
    """One field of a COPY text row -> its value as text (None for NULL)."""
    if text == "\\N":
        return None
    return _COPY_ESCAPE.sub(_unescape_match, text) if "\\" in text else text


def copy_text(value: Any, field: models.Field) -> str:
    """A Python value of ``field`` -> its COPY text field (what PostgreSQL's COPY TO would write)."""
    if value is None:
        return "\\N"
    if field.get_internal_type() == "JSONField":
        value = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    elif isinstance(value, bool):
        return "t" if value else "f"
    elif isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise BackupRefused(f"{field.model._meta.label}.{field.name}: naive datetime {value!r}")
        value = value.isoformat()
    elif isinstance(value, dt.date | dt.time):
        value = value.isoformat()
    elif isinstance(value, int | float | decimal.Decimal | uuid.UUID):
        value = str(value)
    elif not isinstance(value, str):
        raise BackupRefused(
            f"{field.model._meta.label}.{field.name}: cannot back up a {type(value).__name__}"
        )
    return value.translate(_TO_COPY)


# --- writing ----------------------------------------------------------------------------------------

FILE_MODE = 0o600  # a backup holds every password hash and the encrypted identifiers: owner only
FOLDER_MODE = 0o700


def private_folder(folder: Path) -> None:
    """Create ``folder`` and any missing parents owner-only (an existing folder is left as it is)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for new in reversed(missing):
        new.mkdir(mode=FOLDER_MODE, exist_ok=True)
        new.chmod(FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened: set it exactly


def _owner_only_file(path: Path) -> IO[bytes]:
    """Open ``path`` for writing, created (or truncated) with mode 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a left-over partial file from an older run may have had a wider mode
    return os.fdopen(fd, "wb")


class _HashingFile:
    """A file wrapper that hashes what is written, so the digest costs no second read of the backup."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _control(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode() + b"\n"


def _pg_text_settings() -> None:
    """The text forms of COPY that backup and restore agree on, whatever the server's defaults."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'UTC'")
        cursor.execute("SET LOCAL DateStyle = 'ISO'")
        cursor.execute("SET LOCAL extra_float_digits = 1")  # the shortest text that reads back exactly


def _pg_rows(table: Table) -> Iterator[bytes]:
    """The table's rows in COPY text format, straight from the database."""
    columns = ", ".join(_quote(c) for c in table.columns)
    order = _quote(table.order_column)
    statement = f"COPY (SELECT {columns} FROM {_quote(table.name)} ORDER BY {order}) TO STDOUT"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for data in copy:
            yield bytes(data)


def _django_rows(table: Table) -> Iterator[bytes]:
    """The table's rows in COPY text format, read through Django (SQLite; PostgreSQL when asked)."""
    fields = table.fields
    names = [f.attname for f in fields]
    order = next(f.attname for f in fields if f.column == table.order_column)
    rows = table.model._base_manager.order_by(order).values_list(*names).iterator(chunk_size=SQLITE_BATCH)
    block: list[str] = []
    for row in rows:
        block.append("\t".join(copy_text(value, field) for value, field in zip(row, fields, strict=True)))
        if len(block) >= SQLITE_BATCH:
            yield ("\n".join(block) + "\n").encode()
            block = []
    if block:
        yield ("\n".join(block) + "\n").encode()


def backup(
    path: Path, *, native: bool | None = None, progress: Progress | None = None
) -> tuple[Path, int, str]:
    """Write a backup; return (path, row count, sha256 of the file).

    ``native`` (the default on PostgreSQL) reads rows with the database's COPY; otherwise they are read
    through Django. Both write the same format.
    """
    if path.name.endswith(LEGACY_SUFFIX):
        path = path.with_name(path.name[: -len(LEGACY_SUFFIX)])
    if not path.name.endswith(SUFFIX):
        path = path.with_name(path.name + SUFFIX)
    private_folder(path.parent)
    native = connection.vendor == "postgresql" if native is None else native
    if native and connection.vendor != "postgresql":
        raise ValueError("the native backup reader needs PostgreSQL")
    partial = path.with_name(path.name + ".partial")
    total = 0
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                _pg_text_settings()
            _refuse_unbacked_user_data()
            executor = MigrationExecutor(connection)
            tables = backup_tables(_schema_registry(executor))
            counts = {t.name: t.model._base_manager.count() for t in tables}
            expected = sum(counts.values())
            with _owner_only_file(partial) as raw:
                hashing = _HashingFile(raw)
                # With PDVA_BACKUP_KEY the compressed stream is encrypted as it is written (pdva.core.lib.sealed).
                key = settings.PDVA_BACKUP_KEY
                sink: Any = sealed.SealedWriter(hashing, key) if key else hashing
                with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=COMPRESSLEVEL, mtime=0) as out:
                    out.write(
                        _control(
                            {
                                "format": FORMAT,
                                "version": VERSION,
                                "written_at": timezone.now().isoformat(),
                                "vendor": connection.vendor,
                                "tables": [{"table": t.name, "model": t.model._meta.label} for t in tables],
                                "rows": counts,
                                "migrations": sorted(map(list, executor.loader.applied_migrations)),
                            }
                        )
                    )
                    for table in tables:
                        rows = counts[table.name]
                        out.write(_control({"table": table.name, "columns": table.columns, "rows": rows}))
                        written = 0
                        for block in (_pg_rows if native else _django_rows)(table):
                            out.write(block)
                            n = block.count(b"\n")
                            written += n
                            total += n
                            if progress:
                                progress(total, expected)
                        if written != rows:
                            raise BackupRefused(
                                f"{table.name}: read {written} rows of {rows} in the snapshot"
                            )
                        out.write(_control({"end": table.name, "rows": written}))
                    out.write(_control({"complete": True, "rows": total}))
                if key:
                    sink.close()  # the final, authenticated chunk (gzip leaves its file object open)
                raw.flush()
                os.fsync(raw.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    if progress:
        progress(total, total)
    return path, total, hashing.sha256.hexdigest()


# --- reading ----------------------------------------------------------------------------------------


class _Reader:
    """The backup's control lines and row blocks in order, counting lines; damage -> RestoreRefused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw = path.open("rb")
        encrypted = sealed.is_sealed(self.raw.read(len(sealed.MAGIC)))
        self.raw.seek(0)
        source: Any = self.raw
        if encrypted:
            key = settings.PDVA_BACKUP_KEY
            if not key:
                self.raw.close()
                raise SealedRefused(
                    f"{path.name} is encrypted: set PDVA_BACKUP_KEY to the key it was written with"
                )
            source = sealed.SealedReader(self.raw, key)
        self.stream = gzip.GzipFile(fileobj=source, mode="rb")
        self.buffer = b""
        self.line = 0  # lines consumed so far
        self.eof = False

    def close(self) -> None:
        self.stream.close()
        self.raw.close()

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.stream.read(READ_CHUNK)
        except sealed.SealError as exc:  # another key, altered or truncated: nothing of it is used
            raise SealedRefused(f"{self.path.name}: {exc} (after line {self.line})") from exc
        except (EOFError, OSError, gzip.BadGzipFile) as exc:  # truncated, not gzip, or CRC mismatch
            raise RestoreRefused(
                f"{self.path.name} is damaged or truncated (after line {self.line}): {exc}"
            ) from exc
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _truncated(self) -> RestoreRefused:
        return RestoreRefused(f"{self.path.name} ends at line {self.line}, before the backup is complete")

    def peek(self) -> bytes:
        while not self.buffer and self._fill():
            pass
        return self.buffer[:1]

    def control(self) -> dict[str, Any]:
        while (end := self.buffer.find(b"\n")) < 0:
            if not self._fill():
                raise self._truncated()
        line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
        self.line += 1
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise RestoreRefused(
                f"{self.path.name} line {self.line}: expected a section marker ({exc})"
            ) from exc
        if not isinstance(obj, dict):
            raise RestoreRefused(f"{self.path.name} line {self.line}: expected a section marker")
        return obj

    def rows(self, count: int) -> Iterator[bytes]:
        """Blocks of complete lines, ``count`` lines in all."""
        remaining = count
        while remaining:
            complete = self.buffer.count(b"\n")
            if not complete:
                if not self._fill():
                    raise self._truncated()
                continue
            if complete <= remaining:
                cut = self.buffer.rfind(b"\n") + 1
            else:
                cut = -1
                for _ in range(remaining):
                    cut = self.buffer.index(b"\n", cut + 1)
                cut += 1
                complete = remaining
            block, self.buffer = self.buffer[:cut], self.buffer[cut:]
            remaining -= complete
            self.line += complete
            yield block

    def at_end(self) -> bool:
        """Nothing after the trailer (reading to the end also checks gzip's CRC of the whole file)."""
        while self._fill():
            pass
        return not self.buffer.strip()


def _header(reader: _Reader) -> dict[str, Any]:
    try:
        first = reader.peek()
    except SealedRefused:
        raise
    except RestoreRefused as exc:
        raise RestoreRefused(f"{reader.path.name} is not a pdva backup (not gzip, or damaged)") from exc
    if first == b"[":
        return {"format": FORMAT, "version": 1}
    header = reader.control()
    if header.get("format") != FORMAT:
        raise RestoreRefused(f"{reader.path.name} is not a pdva backup (line 1 has no pdva-backup header)")
    if header.get("version") != VERSION:
        raise RestoreRefused(
            f"{reader.path.name} is backup format version {header.get('version')}; this pdva reads "
            f"versions 1 and {VERSION}"
        )
    return header


def read_header(path: Path) -> dict[str, Any]:
    reader = _Reader(path)
    try:
        return _header(reader)
    finally:
        reader.close()


# --- the target database ----------------------------------------------------------------------------


def database_is_empty() -> bool:
    """No row in any table a backup holds (a restore never merges into existing data)."""
    return not any(t.model._base_manager.exists() for t in backup_tables())


def wipe() -> None:
    """Delete every registry row (used only by a forced restore, inside its transaction, and by tests)."""
    with append_only_suspended(), connection.cursor() as cursor:
        tables = [t.name for t in backup_tables()]
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE " + ", ".join(_quote(t) for t in tables) + " CASCADE")
        else:
            for table in reversed(tables):  # children first
                cursor.execute(f"DELETE FROM {_quote(table)}")


def _prepare_schema(header: dict[str, Any]) -> tuple[Any, bool]:
    """Bring the database to the backup's schema: a new one is migrated to it; one already migrated must
    be at it. Returns the models at that schema, and whether newer migrations are to follow the load."""
    wanted = {tuple(m) for m in header["migrations"]}
    executor = MigrationExecutor(connection)
    unknown = sorted(wanted - set(executor.loader.graph.nodes))
    if unknown:
        raise RestoreRefused(
            "the backup was written by a newer pdva: its schema has migrations this version does not know ("
            + ", ".join(f"{app}.{name}" for app, name in unknown[:5])
            + "); restore it with that version of pdva, or a newer one"
        )
    if not executor.loader.applied_migrations:
        executor.migrate(_leaves(executor.loader.graph, wanted))
        executor = MigrationExecutor(connection)
    applied = set(executor.loader.applied_migrations)
    if applied != wanted:
        raise RestoreRefused(
            f"this database's schema ({len(applied)} migrations applied) is not the backup's ({len(wanted)}); "
            "restore into a new, empty database instead: it is migrated to the backup's schema first"
        )
    return _schema_registry(executor), bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _check_tables(header: dict[str, Any], registry: Any) -> dict[str, Table]:
    here = {t.name: t for t in backup_tables(registry)}
    theirs = [t["table"] for t in header["tables"]]
    missing = sorted(set(here) - set(theirs))
    extra = sorted(set(theirs) - set(here))
    if missing or extra:
        raise RestoreRefused(
            "the backup's tables do not match this database's at the same schema"
            + (f"; not in the backup: {', '.join(missing)}" if missing else "")
            + (f"; unknown here: {', '.join(extra)}" if extra else "")
        )
    return here


# --- loading ----------------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlite_converter(field: models.Field) -> Callable[[str], Any]:
    """COPY text of a value -> what the database driver takes for ``field``."""
    kind = (field.target_field if field.is_relation else field).get_internal_type()
    if field.get_internal_type() == "JSONField":
        # Stored as its JSON text (checked: a damaged backup must not leave unreadable JSON behind).
        return lambda text: None if json.loads(text) is None else text
    if kind in ("CharField", "TextField", "EmailField", "SlugField", "URLField"):
        return str
    if kind.endswith("IntegerField") or kind.endswith("AutoField"):
        return int
    if kind == "BooleanField":
        return {"t": True, "f": False, "true": True, "false": False}.__getitem__
    return lambda text: field.get_db_prep_save(field.to_python(text), connection)


def _load_sqlite(
    reader: _Reader,
    table: Table,
    columns: list[str],
    rows: int,
    step: Callable[[int], None],
    tap: Callable[[bytes], None] | None = None,
) -> None:
    by_column = {f.column: f for f in table.fields}
    converters = [_sqlite_converter(by_column[c]) for c in columns]
    width = len(columns)
    statement = (
        f"INSERT INTO {_quote(table.name)} ({', '.join(_quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * width)})"
    )
    number = reader.line
    with connection.cursor() as cursor:
        for block in reader.rows(rows):
            batch = []
            for line in block.decode().split("\n")[:-1]:
                number += 1
                fields = line.split("\t")
                try:
                    if len(fields) != width:
                        raise ValueError(f"{len(fields)} values, expected {width}")
                    values = [copy_field(f) for f in fields]
                    batch.append(
                        [
                            None if v is None else convert(v)
                            for v, convert in zip(values, converters, strict=True)
                        ]
                    )
                except (ValueError, TypeError, KeyError, ArithmeticError, ValidationError) as exc:
                    raise RestoreRefused(
                        f"{reader.path.name} line {number}: {table.name} row is invalid ({_first_line(exc)})"
                    ) from exc
                if len(batch) >= SQLITE_BATCH:
                    cursor.executemany(statement, batch)
                    step(len(batch))
                    batch = []
            if batch:
                cursor.executemany(statement, batch)
                step(len(batch))


_COPY_LINE = re.compile(r"COPY [^,]+, line (\d+)")


def _load_pg(
    reader: _Reader,
    table: Table,
    columns: list[str],
    rows: int,
    step: Callable[[int], None],
    tap: Callable[[bytes], None] | None = None,
) -> None:
    import psycopg  # the PostgreSQL driver: only this path needs it

    statement = f"COPY {_quote(table.name)} ({', '.join(_quote(c) for c in columns)}) FROM STDIN"
    first = reader.line + 1
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: a bad row is reported
            with cursor.cursor.copy(statement) as copy:
                for block in reader.rows(rows):
                    copy.write(block)
                    if tap is not None:
                        tap(block)
                    step(block.count(b"\n"))
    except (DatabaseError, psycopg.Error) as exc:  # the raw COPY raises the driver's own errors
        # PostgreSQL names the line within this COPY ("COPY registry_patient, line 12, column ..."): the
        # message gives the line of the backup file instead.
        cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
        context = f"{exc} {getattr(getattr(cause, 'diag', None), 'context', '') or ''}"
        where = _COPY_LINE.search(context)
        line = f" line {first + int(where.group(1)) - 1}" if where else ""
        raise RestoreRefused(f"{reader.path.name}{line} ({table.name}): {_first_line(exc)}") from exc


@dataclass(frozen=True)
class _Deferred:
    """Secondary indexes and foreign keys of the restored tables, dropped for the load and rebuilt after it
    (as pg_restore does): one sort per index and one join per foreign key instead of a check per row."""

    indexes: list[tuple[str, str]]  # (name, CREATE INDEX statement)
    foreign_keys: list[tuple[str, str, str]]  # (table, constraint name, definition)


def _drop_indexes_and_foreign_keys(tables: list[Table]) -> _Deferred:
    names = [_quote(t.name) for t in tables]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [names],
        )
        foreign_keys = cursor.fetchall()
        # Not primary keys and unique constraints: other tables' foreign keys may depend on them.
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
            [names],
        )
        indexes = cursor.fetchall()
        for table, name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_quote(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    return _Deferred(indexes=indexes, foreign_keys=foreign_keys)


def _rebuild(deferred: _Deferred) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '128MB'")
        for name, statement in deferred.indexes:
            try:
                with transaction.atomic():
                    cursor.execute(statement)
            except DatabaseError as exc:
                raise RestoreRefused(f"the backup's rows break index {name}: {_first_line(exc)}") from exc
        for table, name, definition in deferred.foreign_keys:
            try:
                with transaction.atomic():
                    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {_quote(name)} {definition}")
            except DatabaseError as exc:
                raise RestoreRefused(
                    f"the backup's rows break foreign key {name} of {table}: {_first_line(exc)}"
                ) from exc


def _reset_sequences(models_: list[type[models.Model]]) -> None:
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models_):
            cursor.execute(statement)


# --- verifying the chain ---------------------------------------------------------------------------

VERIFY_WORKERS = 2
VERIFY_IN_FLIGHT = 2 * VERIFY_WORKERS  # blocks queued for the workers: bounds memory, and paces the load


_AUDIT_INTS = frozenset(("seq", "actor_id", "site_id"))
_AUDIT_JSON = frozenset(("before", "after"))


def _audit_entry(line: str, where: list[tuple[str, int]], width: int) -> dict[str, Any]:
    """One audit entry from its COPY text line, as the values verify_chain() reads from the database.
    Raises ValueError (or TypeError) for a row that cannot be read."""
    values = line.split("\t")
    if len(values) != width:
        raise ValueError(f"{len(values)} values, expected {width}")
    entry: dict[str, Any] = {}
    for name, i in where:
        text = values[i]
        if text == "\\N":
            entry[name] = None
            continue
        if "\\" in text:
            text = _COPY_ESCAPE.sub(_unescape_match, text)
        if name in _AUDIT_INTS:
            entry[name] = int(text)
        elif name in _AUDIT_JSON:
            entry[name] = json.loads(text)
        else:
            entry[name] = text
    entry["timestamp"] = dt.datetime.fromisoformat(entry["timestamp"])
    return entry


# (first seq or None when the first row could not be read, first entry's prev_hash, last entry's hash,
# entries checked, (seq or None, problem) of the first break or None)
SegmentResult = tuple[int | None, str, str, int, tuple[int | None, str] | None]


def _verify_segment(block: bytes, columns: list[str], key: str) -> SegmentResult | None:
    """Check a run of consecutive entries: within it, chain.verify_entries' rules; its first entry's
    link to the one before is left to the caller. A row that cannot be read is a break too (reported,
    not raised, so the restore refuses with a clear message). Runs in a worker process."""
    where = [(name, columns.index(name)) for name in AUDIT_FIELDS]
    width = len(columns)
    first_seq: int | None = None
    first_prev = prev = ""
    count = 0

    def broken(seq: int | None, problem: str) -> SegmentResult:
        return (first_seq, first_prev, prev, count, (seq, problem))

    try:
        lines = block.decode().split("\n")[:-1]
    except UnicodeDecodeError as exc:
        return broken(None, f"the rows are not UTF-8 text ({exc})")
    for line in lines:
        try:
            entry = _audit_entry(line, where, width)
            seq = entry["seq"]
            if first_seq is None:
                first_seq, first_prev = seq, entry["prev_hash"]
            elif seq != first_seq + count:
                return broken(seq, f"sequence gap or reorder: expected {first_seq + count}")
            elif entry["prev_hash"] != prev:
                return broken(seq, "previous-hash link does not match the entry before it")
            digest = chain.entry_hash(entry, entry["prev_hash"])
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # unreadable
            where_ = None if first_seq is None else first_seq + count
            return broken(where_, f"the row cannot be read ({_first_line(exc)})")
        if digest != entry["entry_hash"]:
            return broken(seq, "content does not match its hash (entry edited)")
        if not hmac.compare_digest(chain.seal(key, digest), entry["seal"] or ""):
            return broken(seq, "HMAC seal does not match (entry forged or key changed)")
        prev = digest
        count += 1
    return None if first_seq is None else (first_seq, first_prev, prev, count, None)


class _StreamVerifier:
    """Verifies the audit log's entries with the audit key as they stream into the database, in worker
    processes (hashing a national chain takes a core-minute or more; this way it runs beside the load)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.key = settings.PDVA_AUDIT_KEY
        # fork: the workers need no set-up, and never touch the inherited database connection.
        self.pool = multiprocessing.get_context("fork").Pool(VERIFY_WORKERS)
        self.pending: deque[Any] = deque()
        self.prev = chain.GENESIS_HASH
        self.next_seq = 1
        self.count = 0
        self.sha256 = hashlib.sha256()

    def feed(self, block: bytes) -> None:
        self.sha256.update(block)
        self.pending.append(self.pool.apply_async(_verify_segment, (block, self.columns, self.key)))
        while len(self.pending) > VERIFY_IN_FLIGHT:
            self._settle(self.pending.popleft().get())

    def finish(self) -> int:
        while self.pending:
            self._settle(self.pending.popleft().get())
        return self.count

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()

    def _settle(self, result: SegmentResult | None) -> None:
        if result is None:
            return
        first_seq, first_prev, last_hash, count, problem = result
        if first_seq is not None:
            if first_seq != self.next_seq:
                raise chain.ChainBreak(first_seq, f"sequence gap or reorder: expected {self.next_seq}")
            if first_prev != self.prev:
                raise chain.ChainBreak(first_seq, "previous-hash link does not match the entry before it")
        if problem is not None:
            seq, text = problem
            raise chain.ChainBreak(self.next_seq + count if seq is None else seq, text)
        self.prev = last_hash
        self.next_seq += count
        self.count += count


def _restored_log_is_the_stream(columns: list[str], sha256: str) -> bool:
    """Whether the audit log as now stored reads back byte for byte as the verified stream (so the chain
    the workers verified is the one in the database). A backup written through Django (from SQLite) reads
    back in PostgreSQL's own text forms instead, and is then verified again from the database."""
    table = _quote(AuditEntry._meta.db_table)
    statement = f"COPY (SELECT {', '.join(_quote(c) for c in columns)} FROM {table} ORDER BY seq) TO STDOUT"
    digest = hashlib.sha256()
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for data in copy:
            digest.update(data)
    return digest.hexdigest() == sha256


@dataclass(frozen=True)
class Restored:
    rows: int
    audit_entries: int  # restored from the backup (the restore's own entry not counted)
    migrated_after: bool
    restore_seq: int = 0  # the restore's audit entry, appended after the restored chain
    rolled_back: tuple[str, ...] = ()  # checkpoint files newer than the restored chain (a rollback)
    acknowledged: bool = False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(READ_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def os_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no user name for this uid (a container)
        return f"uid {os.getuid()}"


def record_restore(
    path: Path,
    digest: str,
    header: dict[str, Any],
    *,
    rows: int,
    entries: int,
    actor: str,
    acknowledge_rollback: str = "",
) -> tuple[int, list[dict[str, Any]]]:
    """Append the restore's audit entry after the restored chain (inside the restore's transaction):
    who, from which file and its checksum, when, how much, and the checkpoints the restored chain
    contradicts (a rollback). With ``acknowledge_rollback`` (the operator's reason) those checkpoints are
    recorded as acknowledged and verification reports them without failing; without it, it fails."""
    from pdva.audit.context import audit_context
    from pdva.audit.models import append_entries
    from pdva.audit.verify import RESTORE_ACTION, contradicted_checkpoints

    head = AuditEntry.objects.order_by("-seq").values_list("seq", "entry_hash").first() or (
        0,
        chain.GENESIS_HASH,
    )
    rolled_back = contradicted_checkpoints()
    after = {
        "backup_file": path.name,
        "backup_path": str(path.resolve()),
        "sha256": digest,
        "backup_written_at": header.get("written_at"),
        "rows": rows,
        "audit_entries": entries,
        "restored_head_seq": head[0],
        "restored_head_hash": head[1],
        "os_user": os_user(),
        "rolled_back_checkpoints": rolled_back,
        "acknowledged_checkpoints": rolled_back if acknowledge_rollback.strip() else [],
    }
    reason = f"restored from backup {path.name}"
    if rolled_back:
        reason += (
            f"; rolls back {len(rolled_back)} checkpoint(s) (acknowledged: {acknowledge_rollback.strip()})"
            if acknowledge_rollback.strip()
            else f"; rolls back {len(rolled_back)} checkpoint(s), not acknowledged"
        )
    with audit_context(label=actor):
        (entry,) = append_entries(
            [
                {
                    "action": RESTORE_ACTION,
                    "object_type": "backup",
                    "object_id": digest,
                    "site_id": None,
                    "before": None,
                    "after": after,
                    "reason": reason,
                }
            ]
        )
    return entry.seq, rolled_back


def restore(
    path: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    actor: str = "",
    acknowledge_rollback: str = "",
) -> Restored:
    """Restore a backup into this database, all or nothing. Raises RestoreRefused (no row written).

    The restore is recorded in the trail, after the restored chain (``record_restore``): ``actor`` is the
    label of who ran it (default: the operating-system user)."""
    if not path.exists():
        raise RestoreRefused(f"no backup file at {path}")
    actor = f"restore:{actor.strip() or os_user()}"
    digest = file_sha256(path)
    header = read_header(path)
    if header["version"] == 1:
        return _restore_legacy(
            path, force=force, actor=actor, digest=digest, acknowledge_rollback=acknowledge_rollback
        )
    registry, newer_migrations = _prepare_schema(header)
    tables = _check_tables(header, registry)
    if not force and not database_is_empty():
        raise RestoreRefused("the database already holds registry data; use --force to replace it")
    expected = sum(header.get("rows", {}).values())
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, max(expected, done))

    on_pg = connection.vendor == "postgresql"
    load = _load_pg if on_pg else _load_sqlite
    verifier: _StreamVerifier | None = None
    reader = _Reader(path)
    try:
        with transaction.atomic():
            if force:
                wipe()
            _header(reader)
            deferred = None
            if on_pg:
                _pg_text_settings()
                deferred = _drop_indexes_and_foreign_keys(list(tables.values()))
            for entry in header["tables"]:
                table = tables[entry["table"]]
                start = reader.control()
                if start.get("table") != table.name:
                    raise RestoreRefused(
                        f"{path.name} line {reader.line}: expected the start of {table.name}"
                    )
                columns, rows = start.get("columns") or [], start.get("rows")
                if sorted(columns) != sorted(table.columns) or not isinstance(rows, int) or rows < 0:
                    raise RestoreRefused(
                        f"{path.name} line {reader.line}: {table.name}'s columns or count differ"
                    )
                tap = None
                if on_pg and table.is_audit_log:
                    verifier = _StreamVerifier(columns)
                    tap = verifier.feed
                try:
                    load(reader, table, columns, rows, step, tap)
                except chain.ChainBreak as exc:
                    raise _chain_refusal(exc) from exc
                end = reader.control()
                if end != {"end": table.name, "rows": rows}:
                    raise RestoreRefused(
                        f"{path.name} line {reader.line}: expected the end of {table.name} after {rows} rows"
                    )
            trailer = reader.control()
            if trailer != {"complete": True, "rows": done}:
                raise RestoreRefused(
                    f"{path.name} line {reader.line}: the trailer does not match what was read ({done} rows)"
                )
            if not reader.at_end():
                raise RestoreRefused(f"{path.name} has data after its trailer (line {reader.line})")
            if deferred is not None:
                _rebuild(deferred)
            _reset_sequences([t.model for t in tables.values()])
            try:
                entries = verifier.finish() if verifier is not None else -1
                if verifier is None or not _restored_log_is_the_stream(
                    verifier.columns, verifier.sha256.hexdigest()
                ):
                    entries = verify_chain()  # from the database: slower, the same rules
            except chain.ChainBreak as exc:
                raise _chain_refusal(exc) from exc
            restore_seq, rolled_back = record_restore(
                path,
                digest,
                header,
                rows=done,
                entries=entries,
                actor=actor,
                acknowledge_rollback=acknowledge_rollback,
            )
    finally:
        reader.close()
        if verifier is not None:
            verifier.close()
    if progress:
        progress(done, done)
    # After the load's transaction: migrations newer than the backup's schema, and post-migrate set-up.
    call_command("migrate", verbosity=0, interactive=False)
    return Restored(
        rows=done,
        audit_entries=entries,
        migrated_after=newer_migrations,
        restore_seq=restore_seq,
        rolled_back=tuple(c["file"] for c in rolled_back),
        acknowledged=bool(rolled_back and acknowledge_rollback.strip()),
    )


def _chain_refusal(exc: chain.ChainBreak) -> RestoreRefused:
    return RestoreRefused(
        "the backup's audit chain does not verify with this registry's audit key, so nothing was restored: "
        f"entry {exc.seq}: {exc.problem}"
    )


def _restore_legacy(
    path: Path, *, force: bool, actor: str, digest: str, acknowledge_rollback: str
) -> Restored:
    """Version 1 backups (a Django fixture), loaded the old way: in memory, row by row."""
    call_command("migrate", verbosity=0, interactive=False)
    with transaction.atomic():
        if not database_is_empty():
            if not force:
                raise RestoreRefused("the database already holds registry data; use --force to replace it")
            wipe()
        call_command("loaddata", str(path), verbosity=0)
        try:
            entries = verify_chain()
        except chain.ChainBreak as exc:
            raise RestoreRefused(
                f"the backup's audit chain does not verify: entry {exc.seq}: {exc.problem}"
            ) from exc
        rows = sum(t.model._base_manager.count() for t in backup_tables())
        restore_seq, rolled_back = record_restore(
            path,
            digest,
            {"version": 1},
            rows=rows,
            entries=entries,
            actor=actor,
            acknowledge_rollback=acknowledge_rollback,
        )
    return Restored(
        rows=rows,
        audit_entries=entries,
        migrated_after=False,
        restore_seq=restore_seq,
        rolled_back=tuple(c["file"] for c in rolled_back),
        acknowledged=bool(rolled_back and acknowledge_rollback.strip()),
    )
