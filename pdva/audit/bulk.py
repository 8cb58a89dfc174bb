"""The bulk write path: many new audited records, inserted per model, audited in one chain append.

Seeding, imports, restores and batch scoring create thousands of records. Saving each on its own costs a
row lock, a chain-head lock and an audit insert per record (about 1 patient a second). A BulkWriter
collects new records in the order they are made, and ``flush()`` (inside the caller's transaction):

1. inserts them model by model, parents before children (foreign keys take their parents' new ids);
2. appends one "created" audit entry per record, in the order the records were made, under one lock of
   the chain head. The entries are exactly what ``save()`` would have written, so ``pdva audit verify``
   cannot tell the two paths apart.

Only creations go through here; an edit still goes through ``save()`` (version check, reason, before/after).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction

from pdva.audit.models import AuditedModel, append_entries

INSERT_BATCH = 1000


class BulkWriter:
    def __init__(self, *, reason: str = "") -> None:
        self.reason = reason
        self.pending: list[AuditedModel] = []
        self.written = 0

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
        by_model: dict[type[models.Model], list[AuditedModel]] = {}
        for obj in pending:
            by_model.setdefault(type(obj), []).append(obj)
        for model in dependency_order(list(by_model)):
            objs = by_model[model]
            for obj in objs:
                # Take parents' ids (inserted just before) so derive() and the checks see the relations.
                obj._prepare_related_fields_for_save(operation_name="bulk_create")
                obj.prepare_for_save()
            # AuditedQuerySet refuses bulk_create: this is the one audited caller.
            models.QuerySet(model).bulk_create(objs, batch_size=INSERT_BATCH)
            if any(obj.pk is None for obj in objs):
                raise RuntimeError(f"{model._meta.label}: the database did not return the new ids")
        append_entries([obj.audit_row("created", None, obj.audit_snapshot(), self.reason) for obj in pending])
        self.written += len(pending)
        return len(pending)


def dependency_order(model_list: list[type[models.Model]]) -> list[type[models.Model]]:
    """The models in first-seen order, moved so every model comes after the models it points to."""
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
