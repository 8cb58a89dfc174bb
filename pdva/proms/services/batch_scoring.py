"""Score many PROM administrations in keyset-paged batches, through the bulk audited path.

The first ``pdva followup run`` after a load meets hundreds of thousands of unscored administrations.
Scoring each in its own audited transaction (row lock, chain-head lock, audit insert, commit) runs at
about 30 a second, and loading them all with patient and identity first took gigabytes. Here each batch
(by id) is loaded with what scoring and the save checks need in a few queries, scored in Python, and
written in one transaction, so memory is bounded by the batch and a failure loses at most that batch:

- each administration whose score fields change is an audited edit with the checks and the entry
  ``save()`` makes (row locked, derived fields and integrity rules re-applied, changed fields only,
  before/after, version + 1, a reason), written with one UPDATE per batch and one chain append;
- new PromScore rows go through BulkWriter (one "created" entry each);
- an existing PromScore whose value changes (rare: a rule's data changed under the same method id) is
  saved on its own with the reason.

The outcome is the per-row path's (``scoring.score_administration``): same scores, same audit records.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.options import Options

from pdva.audit.bulk import BulkWriter, insert_entries
from pdva.audit.models import ReasonRequired, chain_entries
from pdva.proms.models import PromScore
from pdva.proms.services.scoring import apply_primary, compute_for, plan_scores
from pdva.registry.models import Patient, PatientIdentity, Procedure, PromAdministration

BATCH_SIZE = 2000  # administrations per transaction: a few MB of rows, a second or two of chain lock

ProgressFn = Callable[[int, int], None]  # (done, total), e.g. pdva.core.progress.Progress


@dataclass
class ScoringResult:
    administrations: int = 0  # looked at (scored, or found already up to date)
    edited: int = 0  # administrations whose own score fields changed
    scores_created: int = 0
    scores_changed: int = 0


def unscored() -> models.QuerySet[PromAdministration]:
    """Live, answered administrations with no derived score yet (e.g. loaded in bulk, or on paper)."""
    return (
        PromAdministration.objects.alive()
        .filter(completion_status__in=["complete", "partial"])
        .exclude(models.Exists(PromScore.objects.filter(administration=models.OuterRef("pk"))))
    )


def score_unscored(
    *, reason: str, batch_size: int = BATCH_SIZE, progress: ProgressFn | None = None
) -> ScoringResult:
    return score_in_batches(unscored(), reason=reason, batch_size=batch_size, progress=progress)


def rescore_all(
    *, reason: str, batch_size: int = BATCH_SIZE, progress: ProgressFn | None = None
) -> ScoringResult:
    """Re-derive every live administration's scores (e.g. after a value-set change)."""
    return score_in_batches(
        PromAdministration.objects.alive(), reason=reason, batch_size=batch_size, progress=progress
    )


def score_in_batches(
    administrations: models.QuerySet[PromAdministration],
    *,
    reason: str,
    batch_size: int = BATCH_SIZE,
    progress: ProgressFn | None = None,
) -> ScoringResult:
    """Score every administration of the queryset once, in id order, one transaction per ``batch_size``
    ids (so at most that many administrations in memory)."""
    if not reason.strip():
        raise ReasonRequired("batch scoring edits saved administrations: a reason is required")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    result = ScoringResult()
    total = administrations.count()
    bounds = administrations.aggregate(first=models.Min("pk"), last=models.Max("pk"))
    if progress:
        progress(0, total)
    if total:
        # Ranges of ids, not "the next N by id": a range is an index range scan whatever the planner
        # believes about tables just loaded and never analysed (a LIMIT plan sorted the whole table).
        for start in range(bounds["first"], bounds["last"] + 1, batch_size):
            with transaction.atomic():
                batch = _load_batch(administrations, first_pk=start, last_pk=start + batch_size - 1)
                if batch:
                    score_batch(batch, reason=reason, result=result)
            result.administrations += len(batch)
            if progress and batch:
                progress(min(result.administrations, total), total)
    if progress and result.administrations < total:  # some went away meanwhile: end the line anyway
        progress(result.administrations, result.administrations)
    return result


def _load_batch(
    administrations: models.QuerySet[PromAdministration], *, first_pk: int, last_pk: int
) -> list[PromAdministration]:
    """The administrations with ids in [first_pk, last_pk], locked as save() locks the row it edits, with
    the relations the integrity rules and the audit entry's site read (patient with death and site,
    procedure's patient) loaded once per patient and procedure rather than joined onto every row."""
    batch = list(administrations.filter(pk__gte=first_pk, pk__lte=last_pk).order_by("pk").select_for_update())
    if not batch:
        return batch
    patients = Patient.objects.select_related("site", "death").in_bulk({adm.patient_id for adm in batch})
    procedures = Procedure.objects.only("pk", "patient_id").in_bulk(
        {adm.procedure_id for adm in batch if adm.procedure_id}
    )
    for adm in batch:
        adm.patient = patients[adm.patient_id]
        if adm.procedure_id:
            adm.procedure = procedures[adm.procedure_id]
    return batch


def score_batch(
    batch: list[PromAdministration], *, reason: str, result: ScoringResult | None = None
) -> ScoringResult:
    """Score and write one batch of locked administrations (call inside the batch's transaction)."""
    result = result if result is not None else ScoringResult()
    birth_dates = _birth_dates({adm.patient_id for adm in batch})
    existing = _live_scores([adm.pk for adm in batch])
    edits: list[tuple[PromAdministration, dict[str, Any], dict[str, Any]]] = []
    changed_scores: list[PromScore] = []
    writer = BulkWriter(reason=reason)
    # Everything is computed before the first write, so the chain head is held only for the writes.
    for adm in batch:
        scores = compute_for(
            adm, age=_age_on(birth_dates.get(adm.patient_id), adm.completed_date), sex=adm.patient.sex
        )
        before_full = adm.audit_snapshot()
        apply_primary(adm, scores)
        try:
            adm.prepare_for_save()
        except ValidationError as exc:  # say which record stops the run (the batch is rolled back)
            raise ValidationError(
                f"PROM administration {adm.pk} ({adm.uuid}) cannot be saved: {'; '.join(exc.messages)}"
            ) from exc
        after_full = adm.audit_snapshot()
        changed = [k for k in after_full if after_full[k] != before_full.get(k)]
        if changed:
            edits.append((adm, {k: before_full.get(k) for k in changed}, {k: after_full[k] for k in changed}))
        new, changed_rows = plan_scores(adm, scores, existing.get(adm.pk, []))
        writer.extend(new)
        changed_scores.extend(changed_rows)
    _write_edits(edits, reason=reason)
    for row in changed_scores:
        row.save(reason=reason)
    result.edited += len(edits)
    result.scores_changed += len(changed_scores)
    result.scores_created += writer.flush()
    return result


def _write_edits(
    edits: list[tuple[PromAdministration, dict[str, Any], dict[str, Any]]], *, reason: str
) -> None:
    """The UPDATE and the "updated" audit entries save() would write for each edit, for the whole batch."""
    if not edits:
        return
    meta = PromAdministration._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    fields = [by_attname[k] for k in sorted({k for _, before, _ in edits for k in before})]
    fields += [meta.get_field("version"), meta.get_field("updated_at")]
    connection = transaction.get_connection()  # the wrapper itself: the proxy costs a lookup per use
    rows = []
    for adm, _, _ in edits:
        adm.version += 1
        values = [f.get_db_prep_save(getattr(adm, f.attname), connection) for f in fields]
        rows.append([adm.pk, *values])
    # AuditedQuerySet refuses bulk updates (they bypass save()): the audit entries follow right below.
    # Django's bulk_update spends seconds a batch building CASE expressions; this is plain SQL.
    _update_rows(connection, meta, fields, rows)
    # Chained by the code save() uses, inserted as the bulk path inserts (COPY on PostgreSQL).
    entries = chain_entries(
        [adm.audit_row("updated", before, after, reason) for adm, before, after in edits],
        json_texts=connection.vendor == "postgresql",
    )
    insert_entries(entries)


def _update_rows(
    connection: BaseDatabaseWrapper, meta: Options, fields: list[models.Field], rows: list[list[Any]]
) -> None:
    """UPDATE ``fields`` of each row ([pk, *values]). On PostgreSQL one statement joins a VALUES list per
    1,000 rows (each statement is parsed and planned, since Django binds parameters client-side); on
    SQLite one statement run per row."""
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    if connection.vendor != "postgresql":
        sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET {sets} WHERE {pk} = %s", [[*row[1:], row[0]] for row in rows]
            )
        return
    names = [f"v{i}" for i in range(len(fields))]
    sets = ", ".join(
        f"{quote(f.column)} = CAST(v.{n} AS {f.db_type(connection)})"
        for f, n in zip(fields, names, strict=True)
    )
    pk_type = meta.pk.rel_db_type(connection)
    placeholder = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            cursor.execute(
                f"UPDATE {table} AS t SET {sets} FROM (VALUES {', '.join([placeholder] * len(chunk))}) "
                f"AS v(pk, {', '.join(names)}) WHERE t.{pk} = CAST(v.pk AS {pk_type})",
                [value for row in chunk for value in row],
            )


def _birth_dates(patient_ids: Iterable[int]) -> dict[int, dt.date | None]:
    """Each patient's date of birth, decrypted once per batch (not once per administration)."""
    rows = PatientIdentity.objects.filter(patient_id__in=list(patient_ids)).values_list(
        "patient_id", "date_of_birth_enc"
    )
    return {pid: PatientIdentity(date_of_birth_enc=enc).date_of_birth for pid, enc in rows}


def _age_on(dob: dt.date | None, day: dt.date) -> int | None:
    """Whole years on ``day``: PatientIdentity.age_on, given the already decrypted date of birth."""
    if dob is None:
        return None
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def _live_scores(administration_ids: list[int]) -> dict[int, list[PromScore]]:
    scores: dict[int, list[PromScore]] = defaultdict(list)
    for row in PromScore.objects.alive().filter(administration_id__in=administration_ids):
        scores[row.administration_id].append(row)
    return scores
