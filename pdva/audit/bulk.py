"""The bulk write path: many new audited records, inserted per model, audited in one chain append.

Seeding, imports, restores and batch scoring create thousands of records. Saving each on its own costs a
row lock, a chain-head lock and an audit insert per record (about 1 patient a second). A BulkWriter
collects new records in the order they are made, and ``flush()`` (inside the caller's transaction):

1. inserts them model by model, parents before children (foreign keys take their parents' new ids),
   after ``Model.prepare_many()`` has derived and checked them (the same derive/clean as ``save()``);
2. appends one "created" audit entry per record, in the order the records were made, under one lock of
   the chain head. The entries are built by the same code as ``save()``'s (``chain_entries``), so
   ``pdva audit verify`` cannot tell the two paths apart.

On PostgreSQL both the records and the entries go in with ``COPY`` (ids taken from the table's sequence
first, so children can point at them); Django's ``bulk_create`` spends most of its time adapting
parameters. SQLite keeps ``bulk_create``.

Only creations go through here; an edit still goes through ``save()`` (version check, reason, before/after).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db import models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from pdva.audit.models import AuditedModel, AuditEntry, chain_entries

INSERT_BATCH = 1000
AUTO_FIELDS = ("AutoField", "BigAutoField", "SmallAutoField")


class BulkWriter:
    """Queue new records with add(); flush() inserts and audits them (inside a transaction).

    ``model_order`` lists models to insert (and check) in that order when dependencies allow, before
    models not listed. Checks that read other tables (a death is not dated before the patient's
    latest record) see the rows of the same flush only if those were inserted first.
    """

    def __init__(self, *, reason: str = "", model_order: Sequence[type[models.Model]] = ()) -> None:
        self.reason = reason
        self.model_order = list(model_order)
        self.pending: list[AuditedModel] = []
        self.written = 0
        self.flushes = 0

    def add(self, obj: AuditedModel) -> AuditedModel:
        if not obj._state.adding or obj.pk is not None:
            raise ValueError(f"{obj._meta.label}: the bulk path only creates new records; use save() to edit")
        self.pending.append(obj)
        return obj

    def extend(self, objs: Iterable[AuditedModel]) -> None:
        for obj in objs:
            self.add(obj)

    def __len__(self) -> int:
        return len(self.pending)

    def flush(self) -> int:
        """Insert and audit everything pending; returns how many records were written."""
        if not self.pending:
            return 0
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("flush() must run inside the transaction that makes the change")
        pending, self.pending = self.pending, []
        by_model: dict[type[models.Model], list[AuditedModel]] = {m: [] for m in self.model_order}
        for obj in pending:
            by_model.setdefault(type(obj), []).append(obj)
        for model in dependency_order([m for m, objs in by_model.items() if objs]):
            objs = by_model[model]
            take_parent_ids(model, objs)
            model.prepare_many(objs)  # type: ignore[attr-defined]
            insert_new(model, objs)
        copy = transaction.get_connection().vendor == "postgresql"
        entries = chain_entries(
            [obj.audit_row("created", None, obj.audit_snapshot(), self.reason) for obj in pending],
            json_texts=copy,
        )
        insert_entries(entries)
        self.written += len(pending)
        self.flushes += 1
        return len(pending)


def take_parent_ids(model: type[models.Model], objs: list[Any]) -> None:
    """Give each record its parents' ids (inserted just before), so derive() and the checks see them.

    What Model._prepare_related_fields_for_save() does before a save, looking only at the relations.
    """
    meta = model._meta
    if meta.private_fields:  # generic relations: leave them to Django
        for obj in objs:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
        return
    relations = [f for f in meta.concrete_fields if f.is_relation]
    for obj in objs:
        for field in relations:
            if not field.is_cached(obj):
                continue
            parent = field.get_cached_value(obj)
            if not parent:
                continue
            if not parent._is_pk_set():
                if not field.remote_field.multiple:
                    field.remote_field.delete_cached_value(parent)
                raise ValueError(
                    f"{meta.label}.{field.name} points at a {parent._meta.label} that is neither saved nor "
                    "queued on the bulk writer"
                )
            if getattr(obj, field.attname) in field.empty_values:
                setattr(obj, field.name, parent)
            if getattr(parent, field.target_field.attname) != getattr(obj, field.attname):
                field.delete_cached_value(obj)


def insert_new(model: type[models.Model], objs: list[Any]) -> None:
    """Insert new rows of one model and give each its id (COPY on PostgreSQL, bulk_create elsewhere)."""
    meta = model._meta
    connection = transaction.get_connection()  # the wrapper itself: the proxy costs a lookup per use
    if connection.vendor != "postgresql" or meta.parents or meta.pk.get_internal_type() not in AUTO_FIELDS:
        # AuditedQuerySet refuses bulk_create: this is the one audited caller.
        models.QuerySet(model).bulk_create(objs, batch_size=INSERT_BATCH)
        if any(obj.pk is None for obj in objs):
            raise RuntimeError(f"{meta.label}: the database did not return the new ids")
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        ids = sorted(row[0] for row in cursor.fetchall())  # creation order keeps id order, as save() would
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
    fields = meta.concrete_fields
    values = _values_getter(fields)
    converters = [_converter(f, connection) for f in fields]
    _copy(
        connection,
        meta.db_table,
        [f.column for f in fields],
        ([convert(v) for convert, v in zip(converters, values(obj), strict=True)] for obj in objs),
    )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def insert_entries(entries: list[dict[str, Any]]) -> None:
    """Insert chained audit entries (from chain_entries) as they are: COPY on PostgreSQL."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        AuditEntry.objects.bulk_create([AuditEntry(**data) for data in entries], batch_size=500)
        return
    if entries and "after_json" not in entries[0]:
        raise ValueError("on PostgreSQL, insert entries made by chain_entries(..., json_texts=True)")
    fields = [f for f in AuditEntry._meta.concrete_fields if not f.primary_key]  # the id is the default
    # The JSON columns get the text the hash covered (chain_entries(json_texts=True)): encoded once.
    converters = [_identity if isinstance(f, models.JSONField) else _converter(f, connection) for f in fields]
    names = [f"{f.attname}_json" if isinstance(f, models.JSONField) else f.attname for f in fields]
    _copy(
        connection,
        AuditEntry._meta.db_table,
        [f.column for f in fields],
        ([convert(data[name]) for convert, name in zip(converters, names, strict=True)] for data in entries),
    )


# What PostgreSQL's COPY gets for a value is what get_db_prep_save() would hand the driver. For these field
# types and Python types that is the value itself (integers are wrapped only to pick a parameter type,
# which COPY's text form does not need), so the call is skipped; anything else takes the full call.
PASS_THROUGH: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.EmailField: str,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.AutoField: int,
    models.BigAutoField: int,
    models.BooleanField: bool,
    models.DateField: dt.date,
    models.UUIDField: uuid.UUID,  # PostgreSQL has a native uuid type
}


def _converter(field: models.Field, connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """field.get_db_prep_save(value) for COPY, skipped where it would pass the value through unchanged."""
    full = field.get_db_prep_save

    def slow(value: Any) -> Any:
        return full(value, connection)

    kind: type | None
    if isinstance(field, models.ForeignKey):  # ForeignKey.get_db_prep_save: None, or the target's
        kind = int if PASS_THROUGH.get(type(field.target_field)) is int else None
    else:
        kind = PASS_THROUGH.get(type(field))
    if type(field) is models.DateTimeField:  # an aware datetime goes through as it is (naive: warning)
        return lambda v: v if v is None or (type(v) is dt.datetime and v.utcoffset() is not None) else slow(v)
    if type(field) is models.JSONField:
        # Django sends Jsonb(value), which the driver writes as dumps(value): write that text directly.
        dumps = functools.partial(json.dumps, cls=field.encoder) if field.encoder else json.dumps
        return lambda v: None if v is None else dumps(v) if type(v) in (dict, list) else slow(v)
    if kind is None:
        return slow
    if kind is str:  # str subclasses (choices enums) go to the driver as they are on Django's path too
        return lambda v: v if v is None or isinstance(v, str) else slow(v)
    return lambda v: v if v is None or type(v) is kind else slow(v)


def _identity(value: Any) -> Any:
    return value


def _values_getter(fields: Sequence[models.Field]) -> Callable[[Any], Sequence[Any]]:
    """The values save() would write: each field's pre_save(); a plain attribute read when that is all it is."""
    plain = [
        type(f).pre_save is models.Field.pre_save
        or (isinstance(f, models.DateField) and not f.auto_now and not f.auto_now_add)  # type: ignore[attr-defined]
        for f in fields
    ]
    if all(plain) and len(fields) > 1:  # (one name: attrgetter returns the value, not a tuple)
        return operator.attrgetter(*(f.attname for f in fields))
    return lambda obj: [f.pre_save(obj, True) for f in fields]


def _copy(connection: BaseDatabaseWrapper, table: str, columns: list[str], rows: Iterator[list[Any]]) -> None:
    quote = connection.ops.quote_name
    statement = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def dependency_order(model_list: list[type[models.Model]]) -> list[type[models.Model]]:
    """The models in the given order, moved so every model comes after the models it points to."""
    present = set(model_list)
    deps = {
        model: {
            f.related_model
            for f in model._meta.concrete_fields
            if f.is_relation and f.related_model in present and f.related_model is not model
        }
        for model in model_list
    }
    ordered: list[type[models.Model]] = []
    placed: set[Any] = set()
    while len(ordered) < len(model_list):
        ready = [m for m in model_list if m not in placed and deps[m] <= placed]
        if not ready:
            cycle = sorted(m._meta.label for m in model_list if m not in placed)
            raise RuntimeError(f"cannot order a bulk insert: foreign keys form a cycle among {cycle}")
        ordered.append(ready[0])
        placed.add(ready[0])
    return ordered
