"""The data reconciled against the trail: every audited row must be what its audit entries say it is.

The chain proves the log was not tampered with; it says nothing about the tables. A row changed behind
the trail's back (``UPDATE registry_followupvisit SET notes = ...`` in the database, no entry, version
unchanged) passes the chain check. Reconciliation replays the trail: for each audited model, the
"created" entry's snapshot with every later "updated"/"deleted" entry's changed values applied must equal
the row's current audit snapshot (``AuditedModel.audit_snapshot()``: encrypted identifiers as the keyed
fingerprints the trail holds, never decrypted), and the row's version must be the number of those entries.

Streaming and linear, table by table:

1. the table's entries, ordered by (object_id, seq) on a server-side cursor, are folded one object at a
   time; only a 16-byte digest of each object's replayed state and its version count are kept, in a dict
   keyed by id (about 100 bytes a row, whatever the row's width);
2. the table's rows, read in primary-key order on a server-side cursor, are snapshotted and looked up.

A row that does not match is looked at again on its own (its entries and row read afresh, by index), which
names the differing fields and drops a save that committed between the two passes (SQLite reads live).

Findings (by table and id, naming the differing fields, never their values): a row with no creation
entry, a row changed without an entry, a version that does not match, and a row the trail has entries
for that is gone.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from pdva.audit import chain
from pdva.audit.models import AuditedModel, AuditEntry, _snapshot_plan

BATCH = 5000
MAX_DETAILED = 200  # findings beyond this are counted, not listed

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Finding:
    table: str
    object_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.table} id {self.object_id}: {self.problem}"


@dataclass
class ReconcileReport:
    rows: int = 0
    entries: int = 0
    tables: int = 0
    findings: list[Finding] = field(default_factory=list)
    more_findings: int = 0  # not listed (beyond MAX_DETAILED)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings and not self.more_findings

    @property
    def total_findings(self) -> int:
        return len(self.findings) + self.more_findings

    def add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_DETAILED:
            self.findings.append(finding)
        else:
            self.more_findings += 1


def audited_models() -> list[type[AuditedModel]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, AuditedModel) and not model._meta.proxy and model._meta.managed
    ]


# --- comparing values as the trail holds them ------------------------------------------------------


def _normaliser(model_field: models.Field, secret: bool) -> Callable[[Any], Any]:
    """A value in its audit-JSON form -> a form equal for equal stored values.

    An entry holds what was in memory when it was saved (a form's Decimal('1.5')), the row what the
    database gives back (Decimal('1.50')); the same stored value must compare equal.
    """
    if secret:
        return _same
    target = model_field.target_field if model_field.is_relation else model_field  # type: ignore[attr-defined]
    if isinstance(target, models.DecimalField):
        return _decimal
    if isinstance(target, models.FloatField):
        return lambda v: None if v is None else repr(float(v))
    if isinstance(target, models.DateTimeField):
        return lambda v: (
            None if v is None else dt.datetime.fromisoformat(str(v)).astimezone(dt.UTC).isoformat()
        )
    if isinstance(target, models.DateField):
        return lambda v: None if v is None else str(v)[:10]
    if isinstance(target, models.UUIDField):
        return lambda v: None if v is None else str(uuid.UUID(str(v)))
    if isinstance(target, models.IntegerField | models.AutoField):
        return lambda v: v if v is None or isinstance(v, bool) else int(v)
    return _same


def _same(value: Any) -> Any:
    return value


def _decimal(value: Any) -> Any:
    if value is None:
        return None
    number = decimal.Decimal(str(value))
    # 1.5 and 1.50 are one stored value; so are -0.000000 and 0 (a computed score can be negative zero).
    return "0" if number.is_zero() else str(number.normalize())


@dataclass(frozen=True)
class _Plan:
    model: type[AuditedModel]
    attnames: list[str]
    secret: list[bool]
    normalisers: list[Callable[[Any], Any]]
    counts_versions: bool  # False where a model uses 'version' for something else (ScheduleAdoption)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def verbs(self) -> dict[str, str]:
        return {f"{self.label}.{verb}": verb for verb in ("created", "updated", "deleted")}

    def normalised(self, state: dict[str, Any]) -> list[Any]:
        out = []
        for name, normalise in zip(self.attnames, self.normalisers, strict=True):
            value = state.get(name)
            try:
                out.append(normalise(value))
            except (ValueError, TypeError, ArithmeticError):
                out.append(value)  # not what this field holds: compared as it is (and so differs)
        return out

    def digest(self, state: dict[str, Any]) -> bytes:
        text = json.dumps(self.normalised(state), separators=(",", ":"), default=str, sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _plan(model: type[AuditedModel]) -> _Plan:
    plan = _snapshot_plan(model)
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    version = by_attname.get("version")
    return _Plan(
        model=model,
        attnames=[a for a, _ in plan],
        secret=[s for _, s in plan],
        normalisers=[_normaliser(by_attname[a], s) for a, s in plan],
        counts_versions=isinstance(version, models.PositiveIntegerField),
    )


def _row_snapshot(plan: _Plan, values: tuple[Any, ...]) -> dict[str, Any]:
    """AuditedModel.audit_snapshot() from a values_list row (no model instance per row)."""
    key = settings.PDVA_AUDIT_KEY
    snap = {}
    for name, secret, value in zip(plan.attnames, plan.secret, values, strict=True):
        if secret:
            value = None if value in (None, "") else chain.blind(key, str(value))
        elif value is not None and type(value) not in (str, int, bool):
            value = chain.json_value(value)
        snap[name] = value
    return snap


# --- the walk --------------------------------------------------------------------------------------

# Expected state of one object from the trail: (digest of the replayed snapshot, versions, creation entries)
Expected = tuple[bytes, int, int]


def _replay(plan: _Plan, report: ReconcileReport, step: Callable[[int], None]) -> dict[str, Expected]:
    verbs = plan.verbs()
    expected: dict[str, Expected] = {}
    rows = (
        AuditEntry.objects.filter(object_type=plan.label, action__in=list(verbs))
        .order_by("object_id", "seq")
        .values_list("object_id", "action", "after")
        .iterator(chunk_size=BATCH)
    )
    current: str | None = None
    state: dict[str, Any] = {}
    versions = creations = seen = 0

    def settle() -> None:
        if current is not None:
            expected[current] = (plan.digest(state), versions, creations)

    for object_id, action, after in rows:
        if object_id != current:
            settle()
            current, state, versions, creations = object_id, {}, 0, 0
        if verbs[action] == "created":
            creations += 1
            state = dict(after or {})
        else:
            state.update(after or {})
        versions += 1
        seen += 1
        if seen % BATCH == 0:
            step(BATCH)
    settle()
    step(seen % BATCH)
    report.entries += seen
    return expected


def _row_names(plan: _Plan) -> list[str]:
    return [plan.model._meta.pk.attname, *(["version"] if plan.counts_versions else []), *plan.attnames]


def _split_row(plan: _Plan, values: tuple[Any, ...]) -> tuple[str, int | None, dict[str, Any]]:
    """(object id, version or None, audit snapshot) of a row read with _row_names()."""
    first = 2 if plan.counts_versions else 1
    return str(values[0]), values[1] if plan.counts_versions else None, _row_snapshot(plan, values[first:])


def object_problems(plan: _Plan, object_id: str) -> list[str]:
    """One object checked from scratch (its entries and its row read again, by index): what is wrong, by
    field name. Only for objects the streaming pass found suspect, so a save that committed between that
    pass's reading of the entries and of the rows (SQLite reads live) is not reported."""
    verbs = plan.verbs()
    state: dict[str, Any] = {}
    versions = creations = 0
    for action, after in (
        AuditEntry.objects.filter(object_type=plan.label, object_id=object_id, action__in=list(verbs))
        .order_by("seq")
        .values_list("action", "after")
    ):
        if verbs[action] == "created":
            creations += 1
            state = dict(after or {})
        else:
            state.update(after or {})
        versions += 1
    try:
        values = plan.model._base_manager.filter(pk=object_id).values_list(*_row_names(plan)).first()
    except (ValueError, TypeError, ValidationError):  # an id that is no id of this table
        values = None
    problems = ["the trail records its creation twice"] if creations > 1 else []
    if values is None:
        return problems + (["the trail has entries for it but the row is gone"] if versions else [])
    if not versions:
        return ["no audit entry at all (no creation entry)"]
    if not creations:
        problems.append("no creation entry in the trail")
    _, version, snapshot = _split_row(plan, values)
    mine, theirs = plan.normalised(state), plan.normalised(snapshot)
    differing = [name for name, a, b in zip(plan.attnames, mine, theirs, strict=True) if a != b]
    if differing:
        problems.append(f"changed without an audit entry (fields: {', '.join(differing)})")
    elif version is not None and version != versions:
        problems.append(f"version {version} but the trail records {versions} version(s)")
    return problems


def _check_rows(
    plan: _Plan, expected: dict[str, Expected], report: ReconcileReport, step: Callable[[int], None]
) -> None:
    pk = plan.model._meta.pk.attname
    rows = plan.model._base_manager.order_by(pk).values_list(*_row_names(plan)).iterator(chunk_size=BATCH)
    done = 0
    suspects: list[str] = []
    for values in rows:
        object_id, version, snapshot = _split_row(plan, values)
        done += 1
        if done % BATCH == 0:
            step(BATCH)
        found = expected.pop(object_id, None)
        if (
            found is None
            or found[2] != 1
            or found[0] != plan.digest(snapshot)
            or (version is not None and version != found[1])
        ):
            suspects.append(object_id)
            if len(suspects) >= BATCH:  # looked at again now: the list stays bounded
                _report(plan, suspects, report)
                suspects = []
    step(done % BATCH)
    report.rows += done
    _report(plan, suspects, report)
    _report(plan, sorted(expected), report)  # entries whose row was not found


def _report(plan: _Plan, object_ids: list[str], report: ReconcileReport) -> None:
    for object_id in object_ids:
        if len(report.findings) >= MAX_DETAILED:
            report.more_findings += 1  # counted without the second look (it costs two queries each)
            continue
        for problem in object_problems(plan, object_id):
            report.add(Finding(plan.table, object_id, problem))


def reconcile(progress: ProgressFn | None = None) -> ReconcileReport:
    """Replay the trail against every audited table. Linear in rows + entries; memory bounded per table."""
    started = time.monotonic()
    report = ReconcileReport()
    plans = [_plan(model) for model in audited_models()]
    total = AuditEntry.objects.count() + sum(p.model._base_manager.count() for p in plans)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None and n:
            progress(done, max(total, done))

    for plan in plans:
        expected = _replay(plan, report, step)
        _check_rows(plan, expected, report, step)
        report.tables += 1
    if progress is not None and done < total:  # entries of other kinds (exports, sign-offs) are not replayed
        progress(total, total)
    report.seconds = time.monotonic() - started
    return report
