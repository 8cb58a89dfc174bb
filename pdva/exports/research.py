"""De-identified research export: tidy tables keyed by per-export pseudonyms, days from the index procedure,
no identifiers or free text, ages top-coded at 90, opt-outs excluded; CSV (zipped) or Parquet."""

from __future__ import annotations

import secrets
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection
from django.db.models import Min, QuerySet
from django.utils import timezone

from pdva.exports import dictionary, lib, research_sql
from pdva.exports.columns import ResearchState, TableColumns, research_columns
from pdva.exports.stream import (
    PATIENT_BATCH,
    ZipAssembler,
    ZipOut,
    arrow_type,
    batch_rows,
    patient_batches,
    pipe,
    snapshot,
)
from pdva.exports.tables import RESEARCH_TABLES
from pdva.registry.choices import VALUE_SET_VERSION
from pdva.registry.models import Patient, Procedure


@dataclass
class ResearchPlan:
    state: ResearchState
    tables: list[TableColumns]


def plan(*, allow_free_text: frozenset[str] = frozenset(), key: bytes | None = None) -> ResearchPlan:
    state = ResearchState(lib.Pseudonymiser(key or secrets.token_bytes(32)))
    tables = [research_columns(t, state, allow_free_text=set(allow_free_text)) for t in RESEARCH_TABLES]
    return ResearchPlan(state, tables)


def research_patients(patients: QuerySet) -> QuerySet:
    """The research cohort: alive records without a national data opt-out."""
    return patients.filter(deleted_at__isnull=True, national_data_opt_out=False)


def load_index_dates(state: ResearchState, patient_ids: list[int]) -> None:
    """Day 0 for each patient in the batch: the date of their first (alive) index procedure."""
    state.index_date = dict(
        Procedure.objects.filter(patient_id__in=patient_ids, deleted_at__isnull=True)
        .values("patient_id")
        .annotate(first=Min("procedure_date"))
        .values_list("patient_id", "first")
    )


def iter_batches(
    research: ResearchPlan, patients: QuerySet, *, batch_size: int = PATIENT_BATCH
) -> Iterator[tuple[list[int], dict[str, list[list[Any]]]]]:
    """For each batch of patients: the converted rows of every research table."""
    ids = research_patients(patients).order_by("id").values_list("id", flat=True)
    for batch in patient_batches(ids, batch_size):
        load_index_dates(research.state, batch)
        yield (
            batch,
            {
                t.spec.name: batch_rows(t, batch, order=(t.spec.patient_path, "id"), sort_by_patient=False)
                for t in research.tables
            },
        )


ENGINES = ("auto", "python", "sql")


def export_research(
    patients: QuerySet,
    out: Path,
    *,
    fmt: str = "csv",
    allow_free_text: frozenset[str] = frozenset(),
    created_by: str = "",
    batch_size: int = PATIENT_BATCH,
    engine: str = "auto",
    key: bytes | None = None,
) -> dict[str, Any]:
    """Write the research export. ``engine``: "sql" (PostgreSQL: the database de-identifies and COPY streams
    the tables), "python" (any database: batches of patients converted in Python), or "auto" (sql where
    available). Both give the same tables for the same ``key`` (random per export unless a test injects it)."""
    if fmt not in ("csv", "parquet"):
        raise ValueError("format must be csv or parquet")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    research = plan(allow_free_text=allow_free_text, key=key)
    use_sql = engine == "sql" or (engine == "auto" and research_sql.available())
    hmac = research_sql.Hmac(research.state.pseudonymise)
    if use_sql:
        if not research_sql.available():
            raise ValueError("the sql engine needs PostgreSQL 11 or later")
        try:
            research_sql.check(research.tables, hmac)
        except research_sql.Unsupported:
            if engine == "sql":
                raise
            use_sql = False
    zout, counts, opted_out = (
        _write_sql(research, patients, out, fmt, hmac)
        if use_sql
        else _write_python(research, patients, out, fmt, batch_size)
    )
    try:
        for name, text in (
            ("dictionary.csv", dictionary.as_csv(research.tables)),
            ("dictionary.md", dictionary.as_markdown(research.tables, title="pDVA registry research export")),
        ):
            with zout.member(name) as writer:
                writer.write(text.encode("utf-8"))
    except BaseException:
        zout.abort()
        raise
    manifest = {
        "kind": "research",
        "format": fmt,
        "engine": "postgresql-copy" if use_sql else "python",
        "export_id": str(uuid.uuid4()),
        "created_at": timezone.now().isoformat(),
        "created_by": created_by,
        "value_set_version": VALUE_SET_VERSION,
        "patients": counts["patients"],
        "excluded_national_data_opt_out": opted_out,
        "deidentification": {
            "keys": "per-export pseudonyms (HMAC-SHA256 under a random key discarded after the export); "
            "not linkable to the registry or to other exports",
            "dates": "converted to days from each patient's first index procedure (day 0)",
            "ages": f"ages of {lib.AGE_TOP_CODE} and over reported as {lib.AGE_TOP_CODE}",
            "identifiers": "none (no NHS number, name, date of birth, postcode or registry id)",
            "free_text": sorted(allow_free_text) or "dropped",
            "national_data_opt_out": "patients with a national data opt-out are excluded",
        },
        "tables": counts,
    }
    return zout.close(manifest)


def _opted_out(patients: QuerySet) -> int:
    return patients.filter(deleted_at__isnull=True, national_data_opt_out=True).count()


def _write_python(
    research: ResearchPlan, patients: QuerySet, out: Path, fmt: str, batch_size: int
) -> tuple[ZipOut, dict[str, int], int]:
    assembler = ZipAssembler(fmt)
    sinks = {t.spec.name: assembler.sink(t) for t in research.tables}
    try:
        with snapshot():
            opted_out = _opted_out(patients)
            for _batch, rows in iter_batches(research, patients, batch_size=batch_size):
                for name, table_rows in rows.items():
                    sinks[name].write(table_rows)
        for sink in sinks.values():
            sink.close()
        zout = ZipOut(out)
        try:
            for sink in sinks.values():
                zout.add_file(sink.path.name, sink.path, sink.rows)
        except BaseException:
            zout.abort()
            raise
    finally:
        assembler.dir.cleanup()
    return zout, {name: sink.rows for name, sink in sinks.items()}, opted_out


def _write_sql(
    research: ResearchPlan, patients: QuerySet, out: Path, fmt: str, hmac: research_sql.Hmac
) -> tuple[ZipOut, dict[str, int], int]:
    """CSV: each table's COPY streams into its zip member, compressed on a helper thread as blocks arrive.
    Parquet: each table's COPY goes to a staged CSV file, converted and added to the zip on a helper thread
    while the database produces the next table. Members go in table order; memory holds a few blocks."""
    counts: dict[str, int] = {}
    zout = ZipOut(out)

    def add_parquet(name: str, staged: Path, table: TableColumns) -> None:
        converted = staged.with_suffix(".parquet")
        if csv_to_parquet(staged, table, converted) != counts[name]:
            raise RuntimeError(f"{name}: Parquet rows differ from the rows read")
        zout.add_file(converted.name, converted, counts[name])
        converted.unlink()
        staged.unlink()

    try:
        with (
            snapshot(read_only=False),
            connection.cursor() as cursor,
            tempfile.TemporaryDirectory(prefix="pdva-export-") as tmp,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdva-export-zip") as zipper,
        ):
            # Sorts of the narrow rows stay in memory; the queries are simple scans and joins, for which
            # compiling (JIT) costs more than it saves.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute("SET LOCAL jit = off")
            opted_out = _opted_out(patients)
            hmac.create(cursor)
            cohort = research_sql.Cohort.create(cursor, research_patients(patients), hmac)
            maps = research_sql.PseudonymMaps.create(cursor, research.tables, hmac)
            adding: list[Future[None]] = []
            for table in research.tables:
                sql = research_sql.table_sql(table, cohort, maps, hmac, empty_as_null=fmt == "csv")
                name = table.spec.name
                if fmt == "csv":
                    with zout.member(f"{name}.csv") as writer:
                        pipe(research_sql.copy_csv(cursor, sql), writer)
                        writer.rows = counts[name] = research_sql.last_copy_rows(cursor)
                    continue
                staged = Path(tmp) / f"{name}.csv"
                with open(staged, "wb") as stream:
                    for block in research_sql.copy_csv(cursor, sql):
                        stream.write(block)
                counts[name] = research_sql.last_copy_rows(cursor)
                adding.append(zipper.submit(add_parquet, name, staged, table))
            cohort.drop(cursor)
            maps.drop(cursor)
            hmac.drop(cursor)
            for future in adding:
                future.result()  # in order: the first failure is raised here
    except BaseException:
        zout.abort()
        raise
    return zout, counts, opted_out


def csv_to_parquet(staged: Path, table: TableColumns, path: Path) -> int:
    """Parquet from a CSV file written by COPY, typed as the Python path types it, a block at a time.

    Unquoted empty cells are nulls and quoted ones are empty strings, as COPY writes them."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in table.columns])
    reader = pacsv.open_csv(
        str(staged),
        read_options=pacsv.ReadOptions(block_size=1 << 20, use_threads=False),  # small blocks: flat memory
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["true"],
            false_values=["false"],
        ),
    )
    rows = 0
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch if batch.schema.equals(schema) else batch.cast(schema))
            rows += batch.num_rows
    return rows


def all_patients() -> QuerySet:
    return Patient.objects.all()
