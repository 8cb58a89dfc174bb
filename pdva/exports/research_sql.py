"""PostgreSQL fast path for the research export: the database does the de-identification and writes the CSV.

Every research column is compiled to a SQL expression that gives exactly what the Python converters give
(pdva.exports.columns): pseudonyms as HMAC-SHA256 under the same per-export key (computed with PostgreSQL's
built-in sha256() from the HMAC pads, so no extension is needed), dates as days from the first alive index
procedure, ages top-coded, multi-choice codes joined with "|", PROM responses flattened to one column per
item, booleans as true/false. Rows are filtered and ordered as the Python path does (alive rows of alive
parents of cohort patients, by patient then id), and streamed with ``COPY (SELECT ...) TO STDOUT`` in CSV.

The cohort (patients without a national data opt-out, with their pseudonym and index date) is computed
once per export into a TEMP table, dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.db.models import F, QuerySet

from pdva.exports import lib
from pdva.exports.columns import Column, TableColumns
from pdva.registry.models import Procedure

# Bytes gathered from COPY (which yields one row at a time) before each write into the zip.
COPY_BUFFER = 1 << 20
MIN_SERVER_VERSION = 110000  # sha256() is built in from PostgreSQL 11


class Unsupported(ValueError):
    """A column the SQL path cannot reproduce exactly: the caller uses the Python path instead."""


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def literal(sql: str, params: Any) -> str:
    """A parameterised statement as one literal statement (COPY takes no bind parameters)."""
    return connection.ops.compose_sql(sql, params)


def available() -> bool:
    return connection.vendor == "postgresql" and connection.pg_version >= MIN_SERVER_VERSION


class Hmac:
    """SQL for the Pseudonymiser's HMAC-SHA256 under the export's key.

    The key's pads live in a TEMP table, read once per query: the long-running export statements (which
    a server may log, e.g. with log_min_duration_statement) never contain the key."""

    def __init__(self, pseudonymise: lib.Pseudonymiser) -> None:
        self.pads = lib.hmac_pads(pseudonymise.key)
        self.length = pseudonymise.length
        self.table = f"pdva_research_key_{uuid.uuid4().hex[:12]}"
        self.inner = f"(SELECT inner_pad FROM {self.table})"
        self.outer = f"(SELECT outer_pad FROM {self.table})"

    def create(self, cursor: Any) -> None:
        cursor.execute(f"CREATE TEMP TABLE {self.table} (inner_pad bytea, outer_pad bytea) ON COMMIT DROP")
        cursor.execute(f"INSERT INTO {self.table} VALUES (%s, %s)", list(self.pads))

    def drop(self, cursor: Any) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    def __call__(self, kind: str, value_sql: str) -> str:
        if not kind.isidentifier() or self.length % 2:
            raise Unsupported(f"pseudonym kind {kind!r} or length {self.length}")
        # textsend(): the text's bytes (kinds and ids are ASCII); only the kept bytes are hex-encoded.
        message = f"textsend('{kind}:' || ({value_sql}))"
        digest = f"sha256({self.outer} || sha256({self.inner} || {message}))"
        return f"encode(substr({digest}, 1, {self.length // 2}), 'hex')"


@dataclass
class Cohort:
    """TEMP tables of the export's patients (internal id, pseudonym, index date: day 0) and of their alive
    procedures (id, pseudonym, and the patient's), which the tables hanging off a procedure join directly."""

    table: str
    procedures: str = ""

    @classmethod
    def create(cls, cursor: Any, patient_ids: QuerySet, hmac: Hmac) -> Cohort:
        suffix = uuid.uuid4().hex[:12]
        cohort = cls(f"pdva_research_cohort_{suffix}", f"pdva_research_cohort_procedures_{suffix}")
        ids_sql, ids_params = patient_ids.order_by().values("id").query.sql_with_params()
        index_sql, index_params = (
            Procedure._base_manager.filter(deleted_at__isnull=True)
            .values("patient_id")
            .annotate(index_date=models.Min("procedure_date"))
            .values("patient_id", "index_date")
            .query.sql_with_params()
        )
        cursor.execute(
            f"CREATE TEMP TABLE {cohort.table} ON COMMIT DROP AS "
            f"SELECT p.id AS pid, {hmac('patient', 'p.id')} AS pseudo, i.index_date "
            f"FROM ({ids_sql}) AS p LEFT JOIN ({index_sql}) AS i ON i.patient_id = p.id",
            [*ids_params, *index_params],
        )
        cursor.execute(f"ALTER TABLE {cohort.table} ADD PRIMARY KEY (pid)")
        cursor.execute(f"ANALYZE {cohort.table}")
        cursor.execute(
            f"CREATE TEMP TABLE {cohort.procedures} ON COMMIT DROP AS "
            f"SELECT p.id, {hmac('procedure', 'p.id')} AS pseudo, c.pid, c.pseudo AS patient_pseudo, "
            f"c.index_date FROM {qn(Procedure._meta.db_table)} AS p JOIN {cohort.table} AS c ON c.pid = p.patient_id "
            "WHERE p.deleted_at IS NULL"
        )
        cursor.execute(f"ALTER TABLE {cohort.procedures} ADD PRIMARY KEY (id)")
        cursor.execute(f"ANALYZE {cohort.procedures}")
        return cohort

    def drop(self, cursor: Any) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {self.table}, {self.procedures}")


def _is_text(col: Column) -> bool:
    return (
        isinstance(col.model_field, (models.CharField, models.TextField)) and not col.model_field.is_relation
    )


# Kinds referenced far more often than they occur (operators and sites are few): their pseudonyms are
# computed once into a map. Procedures come from the cohort's procedures; other references are hashed where
# they appear.
MAPPED_KINDS = frozenset({"operator", "site"})


@dataclass
class PseudonymMaps:
    """TEMP tables (id, pseudonym) for MAPPED_KINDS: each record's HMAC is computed once and joined wherever
    it is referenced, instead of once per reference."""

    tables: dict[str, str]

    @classmethod
    def create(cls, cursor: Any, tables: list[TableColumns], hmac: Hmac) -> PseudonymMaps:
        referenced: dict[str, type] = {}
        for table in tables:
            for col in table.columns:
                f = col.model_field
                if col.transform == "pseudonym" and col.transform_arg in MAPPED_KINDS and f is not None:
                    if f.is_relation:
                        referenced[col.transform_arg] = f.related_model
        suffix = uuid.uuid4().hex[:12]
        maps = cls({})
        for kind, model in sorted(referenced.items()):
            name = f"pdva_research_{kind}_{suffix}"
            cursor.execute(
                f"CREATE TEMP TABLE {name} ON COMMIT DROP AS "
                f"SELECT id, {hmac(kind, 'id')} AS pseudo FROM {qn(model._meta.db_table)}"
            )
            cursor.execute(f"ANALYZE {name}")
            maps.tables[kind] = name
        return maps

    def drop(self, cursor: Any) -> None:
        for name in self.tables.values():
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


PROCEDURE_PATH = "procedure__patient_id"


class _Query:
    """The pieces of one table's query: mapped pseudonyms become joins, the rest expressions over ``q``.

    Rows reach their patient through the cohort table (``c``), or for tables hanging off a procedure (which
    must be alive) through the cohort's procedures, one join giving both pseudonyms and day 0."""

    def __init__(self, table: TableColumns, maps: PseudonymMaps, cohort: Cohort) -> None:
        spec = table.spec
        self.table = table
        self.maps = maps
        self.cohort = cohort
        self.alias = {source: f"c{n}" for n, source in enumerate(table.sources)}
        self.joins: list[str] = []
        self.carried: list[str] = []  # extra columns the sorted subquery carries (cohort, map pseudonyms)
        self.via_procedure = (
            spec.patient_path == PROCEDURE_PATH
            and "procedure" in spec.alive_parents
            and "procedure_id" in self.alias
        )
        if self.via_procedure:
            self.cohort_join = f"JOIN {cohort.procedures} AS c ON c.id = s.{self.alias['procedure_id']}"
            self.patient, self.patient_pseudo = "c.pid", "c.patient_pseudo"
        else:
            patient = f"s.{self.alias[table.patient_source]}" if table.patient_source else "NULL"
            self.cohort_join = f"JOIN {cohort.table} AS c ON c.pid = {patient}"
            self.patient, self.patient_pseudo = patient, "c.pseudo"

    def carry(self, expr: str) -> str:
        name = f"x{len(self.carried)}"
        self.carried.append(f"{expr} AS {name}")
        return f"q.{name}"

    def pseudonym(self, col: Column, hmac: Hmac) -> str:
        kind, source = col.transform_arg, col.sources[0]
        if kind == "patient" and source == self.table.patient_source:
            return self.carry(self.patient_pseudo)
        if kind == "procedure" and source == "procedure_id" and self.via_procedure:
            return self.carry("c.pseudo")
        if kind == "procedure":  # usually one of the cohort's alive procedures; else hashed here
            join = f"m{len(self.joins)}"
            self.joins.append(
                f"LEFT JOIN {self.cohort.procedures} AS {join} ON {join}.id = s.{self.alias[source]}"
            )
            return f"COALESCE({self.carry(f'{join}.pseudo')}, {hmac(kind, f'q.{self.alias[source]}')})"
        mapped = self.maps.tables.get(kind)
        if mapped is None:
            return hmac(kind, f"q.{self.alias[source]}")
        join = f"m{len(self.joins)}"
        self.joins.append(f"LEFT JOIN {mapped} AS {join} ON {join}.id = s.{self.alias[source]}")
        return self.carry(f"{join}.pseudo")


def column_sql(col: Column, src: list[str], query: _Query, hmac: Hmac, *, empty_as_null: bool) -> str:
    """The SQL giving ``col`` from the aliased source columns ``src`` (q.c0, ...).

    ``empty_as_null``: CSV output, where the Python writer shows None and "" alike (empty, unquoted) but
    COPY quotes ""; for Parquet, "" stays "" and NULL stays null, as in the Python path."""
    kind, arg = col.transform, col.transform_arg
    table = query.table
    if kind == "pseudonym":
        return query.pseudonym(col, hmac)
    if kind == "days":
        return f"({src[0]} - {query.carry('c.index_date')})"
    if kind == "top_code":
        return f"CASE WHEN {src[0]} IS NULL THEN NULL ELSE LEAST({src[0]}, {lib.AGE_TOP_CODE}) END"
    if kind == "codes":
        joined = (
            f"CASE WHEN jsonb_typeof({src[0]}) = 'array' "
            f"THEN array_to_string(ARRAY(SELECT jsonb_array_elements_text({src[0]})), '|') END"
        )
        return f"NULLIF({joined}, '')" if empty_as_null else f"COALESCE({joined}, '')"
    if kind == "item":
        if "'" in arg:
            raise Unsupported(f"item code {arg!r}")
        return f"({src[0]} ->> '{arg}')"  # NULL when the responses are not an object or lack the item
    if kind:
        raise Unsupported(f"{table.spec.name}.{col.name}: {kind} values are converted in Python only")
    if col.type == "boolean":
        return f"CASE WHEN {src[0]} THEN 'true' WHEN NOT {src[0]} THEN 'false' END"
    if col.type in ("json", "datetime", "date"):
        raise Unsupported(f"{table.spec.name}.{col.name}: {col.type} columns are converted in Python only")
    if _is_text(col) and empty_as_null:
        return f"NULLIF({spreadsheet_safe(src[0])}, '')"
    return src[0]


# lib.neutralise_cell in SQL: text a spreadsheet would evaluate (or that starts with the quote) gets a quote.
_QUOTED_STARTS_SQL = ", ".join(f"chr({ord(c)})" for c in sorted(lib.FORMULA_STARTS | {lib.QUOTE}))


def spreadsheet_safe(expr: str) -> str:
    return f"CASE WHEN left({expr}, 1) IN ({_QUOTED_STARTS_SQL}) THEN chr(39) || {expr} ELSE {expr} END"


def table_sql(
    table: TableColumns, cohort: Cohort, maps: PseudonymMaps, hmac: Hmac, *, empty_as_null: bool
) -> str:
    """One literal SELECT giving the research table, in the Python path's row order.

    The rows are filtered, joined and sorted narrow (ids, dates, codes) in a subquery; the wide output
    (pseudonyms, text) is computed over the sorted rows, so the sort never handles it."""
    spec = table.spec
    if table.patient_source is None:
        raise Unsupported(f"{spec.name} is not a patient table")
    query = _Query(table, maps, cohort)
    alias = query.alias
    qs = spec.model._base_manager.filter(deleted_at__isnull=True)
    selected = dict(alias)
    if query.via_procedure:
        del selected[PROCEDURE_PATH]  # the join to the cohort's (alive) procedures gives the patient
    else:
        for parent in spec.alive_parents:
            qs = qs.filter(**{f"{parent}__deleted_at__isnull": True})
    inner_sql, inner_params = (
        qs.order_by().values(**{a: F(source) for source, a in selected.items()}).query.sql_with_params()
    )
    selects = []
    for col in table.columns:
        src = [f"q.{alias[x]}" for x in col.sources]
        selects.append(f"{column_sql(col, src, query, hmac, empty_as_null=empty_as_null)} AS {qn(col.name)}")
    row_id = alias["id"]
    carried = "".join(f", {c}" for c in query.carried)
    sql = (
        f"SELECT {', '.join(selects)} FROM ("
        f"SELECT s.*, {query.patient} AS pid{carried} FROM ({inner_sql}) AS s "
        f"{query.cohort_join} {' '.join(query.joins)} "
        f"ORDER BY pid, s.{row_id} OFFSET 0) AS q ORDER BY q.pid, q.{row_id}"
    )
    return literal(sql, inner_params)


def check(tables: list[TableColumns], hmac: Hmac) -> None:
    """Raise Unsupported when any column cannot be produced in SQL (checked before anything is written)."""
    for table in tables:
        if table.patient_source is None or "id" not in table.sources:
            raise Unsupported(f"{table.spec.name}: no patient or id source")
        query = _Query(table, PseudonymMaps({}), Cohort("probe", "probe_procedures"))
        for col in table.columns:
            column_sql(col, ["x"] * len(col.sources), query, hmac, empty_as_null=True)


def copy_csv(cursor: Any, sql: str) -> Iterator[bytes]:
    """``COPY (sql) TO STDOUT`` as CSV with a header, in blocks of about COPY_BUFFER bytes."""
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    buffer = bytearray()
    with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
        for row in copy:
            buffer += row
            if len(buffer) >= COPY_BUFFER:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)


def last_copy_rows(cursor: Any) -> int:
    return int(cursor.cursor.rowcount)
