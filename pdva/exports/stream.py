"""Streaming table writers: rows go out batch by batch (by patient), never the whole registry at once.

Each table is written to its own temporary file while patient batches are read; the files are then copied
into one zip (with a manifest of row counts and SHA-256 checksums). Memory holds one batch at a time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import queue
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from pdva.exports import lib
from pdva.exports.columns import Column, TableColumns

FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # constant member timestamps: same content, same zip bytes
PATIENT_BATCH = 500


def chunked(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_text(column: Column) -> Callable[[Any], Any] | None:
    """Formatter turning a typed value into its CSV text (None where csv's own str() is right). Text cells
    a spreadsheet would evaluate are neutralised (``lib.neutralise_cell``)."""
    if column.type in lib.TEXT_CELL_TYPES:
        return lib.neutralise_cell
    if column.type == "boolean":
        return lambda v: "" if v is None else ("true" if v else "false")
    if column.type == "datetime":
        return lambda v: (
            v.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if isinstance(v, dt.datetime) else v
        )
    return None


class CsvSink:
    suffix = ".csv"

    def __init__(self, path: Path, table: TableColumns) -> None:
        self.path = path
        self.stream = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.writer = csv.writer(self.stream, lineterminator="\n")
        self.writer.writerow(table.names)
        self.formatters = [(i, f) for i, c in enumerate(table.columns) if (f := csv_text(c)) is not None]
        self.rows = 0

    def write(self, rows: list[list[Any]]) -> None:
        if self.formatters:
            for row in rows:
                for i, f in self.formatters:
                    row[i] = f(row[i])
        self.writer.writerows(rows)
        self.rows += len(rows)

    def close(self) -> None:
        self.stream.close()


def arrow_type(column: Column) -> Any:
    import pyarrow as pa

    if column.type in ("integer", "day"):
        return pa.int64()
    if column.type == "decimal" and column.decimal:
        return pa.decimal128(*column.decimal)
    if column.type == "date":
        return pa.date32()
    if column.type == "datetime":
        return pa.timestamp("us", tz="UTC")
    if column.type == "boolean":
        return pa.bool_()
    if column.type == "code" and column.codes and isinstance(column.codes[0][0], int):
        return pa.int64()
    return pa.string()


class ParquetSink:
    suffix = ".parquet"

    def __init__(self, path: Path, table: TableColumns) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.path = path
        self.schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in table.columns])
        self.writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self.rows = 0

    def write(self, rows: list[list[Any]]) -> None:
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        arrays = [self.pa.array(list(col), type=f.type) for col, f in zip(columns, self.schema, strict=True)]
        self.writer.write_batch(self.pa.record_batch(arrays, schema=self.schema))
        self.rows += len(rows)

    def close(self) -> None:
        self.writer.close()


SINKS = {"csv": CsvSink, "parquet": ParquetSink}


def snapshot(*, read_only: bool = True) -> Any:
    """A consistent read of the registry for the length of the export (REPEATABLE READ on PostgreSQL).

    ``read_only=False`` still changes nothing in the registry; it lets the export create TEMP tables."""
    atomic = transaction.atomic()
    mode = "REPEATABLE READ READ ONLY" if read_only else "REPEATABLE READ"

    class _Snapshot:
        def __enter__(self) -> None:
            outermost = not connection.in_atomic_block
            atomic.__enter__()
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET TRANSACTION ISOLATION LEVEL {mode}")

        def __exit__(self, *exc: Any) -> Any:
            return atomic.__exit__(*exc)

    return _Snapshot()


def patient_batches(patient_ids_qs: Any, size: int = PATIENT_BATCH) -> Iterator[list[int]]:
    """Patient ids in batches, read through a server-side cursor (PostgreSQL) so none is held whole."""
    return chunked(patient_ids_qs.iterator(chunk_size=size * 4), size)


def batch_queryset(table: TableColumns, patient_ids: list[int]) -> Any:
    """Alive rows of a table (with alive parents) for a batch of patients."""
    spec = table.spec
    qs = spec.model._base_manager.filter(deleted_at__isnull=True, **{f"{spec.patient_path}__in": patient_ids})
    for parent in spec.alive_parents:
        qs = qs.filter(**{f"{parent}__deleted_at__isnull": True})
    return qs


def batch_rows(
    table: TableColumns, patient_ids: list[int], *, order: tuple[str, ...], sort_by_patient: bool
) -> list[list[Any]]:
    """Rows of one table for one batch of patients, converted for output."""
    raw = list(batch_queryset(table, patient_ids).order_by(*order).values_list(*table.sources))
    if sort_by_patient and table.patient_index is not None:
        position = {pid: n for n, pid in enumerate(patient_ids)}
        raw.sort(
            key=lambda r: position[r[table.patient_index]]
        )  # stable: keeps the SQL order within a patient
    return [table.convert(r) for r in raw]


def pipe(blocks: Iterable[bytes], writer: Any, *, depth: int = 4) -> None:
    """Write ``blocks`` into ``writer`` on a helper thread, so compressing and hashing (which release the
    GIL) overlap with producing the next blocks. At most ``depth`` blocks wait in between (memory stays flat)."""
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
    failed: list[BaseException] = []

    def drain() -> None:
        while (block := pending.get()) is not None:
            if not failed:
                try:
                    writer.write(block)
                except BaseException as exc:  # reported on the caller's thread below
                    failed.append(exc)

    worker = threading.Thread(target=drain, name="pdva-export-writer", daemon=True)
    worker.start()
    try:
        for block in blocks:
            if failed:
                break
            pending.put(block)
    finally:
        pending.put(None)
        worker.join()
    if failed:
        raise failed[0]


class ZipOut:
    """The export zip, written member by member (each hashed and counted as it streams in) and moved into
    place only when complete, with a manifest of every member's SHA-256, size and row count."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.partial = out.with_name(out.name + ".partial")
        self.zf = zipfile.ZipFile(self.partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self.files: dict[str, dict[str, Any]] = {}

    @contextmanager
    def member(self, name: str) -> Iterator[lib.HashingWriter]:
        """A binary stream into a new member; set ``.rows`` on it to record a row count."""
        info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
        info.compress_type = zipfile.ZIP_STORED if name.endswith(".parquet") else zipfile.ZIP_DEFLATED
        with self.zf.open(info, "w", force_zip64=True) as dst:
            writer = lib.HashingWriter(dst)
            yield writer
        self.files[name] = {"sha256": writer.hexdigest(), "bytes": writer.size}
        if writer.rows is not None:
            self.files[name]["rows"] = writer.rows

    def add_file(self, name: str, path: Path, rows: int | None = None) -> None:
        with open(path, "rb") as src, self.member(name) as writer:
            shutil.copyfileobj(src, writer, 1 << 20)
            writer.rows = rows

    def close(self, manifest: dict[str, Any]) -> dict[str, Any]:
        manifest = {**manifest, "files": self.files}
        info = zipfile.ZipInfo("manifest.json", date_time=FIXED_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zf.writestr(info, json.dumps(manifest, indent=2, sort_keys=True, default=_json_default))
        self.zf.close()
        os.replace(self.partial, self.out)
        return manifest

    def abort(self) -> None:
        self.zf.close()
        self.partial.unlink(missing_ok=True)


class ZipAssembler:
    """Collects table files written in a temporary directory and writes the final zip with a manifest."""

    def __init__(self, fmt: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="pdva-export-")
        self.fmt = fmt
        self.sinks: dict[str, Any] = {}

    def sink(self, table: TableColumns) -> Any:
        cls = SINKS[self.fmt]
        sink = cls(Path(self.dir.name) / f"{table.spec.name}{cls.suffix}", table)
        self.sinks[table.spec.name] = sink
        return sink

    def extra(self, name: str, text: str) -> Path:
        path = Path(self.dir.name) / name
        path.write_text(text, encoding="utf-8")
        return path

    def finish(self, out: Path, manifest: dict[str, Any], extras: list[Path]) -> dict[str, Any]:
        for sink in self.sinks.values():
            sink.close()
        zout = ZipOut(out)
        try:
            for sink in self.sinks.values():
                zout.add_file(sink.path.name, sink.path, sink.rows)
            for path in extras:
                zout.add_file(path.name, path)
        except BaseException:
            zout.abort()
            raise
        finally:
            self.dir.cleanup()
        return zout.close(manifest)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot serialise {type(value)}")


def read_zip_text(path: Path, member: str) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read(member).decode("utf-8")


def text_stream(zf: zipfile.ZipFile, member: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(zf.open(member), encoding="utf-8", newline="")
