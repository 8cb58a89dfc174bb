"""De-identified research export: tidy tables keyed by per-export pseudonyms, days from the index procedure,
no identifiers or free text, ages top-coded at 90, opt-outs excluded; CSV (zipped) or Parquet."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import Min, QuerySet
from django.utils import timezone

from pdva.exports import dictionary, lib
from pdva.exports.columns import ResearchState, TableColumns, research_columns
from pdva.exports.stream import PATIENT_BATCH, ZipAssembler, batch_rows, patient_batches, snapshot
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


def export_research(
    patients: QuerySet,
    out: Path,
    *,
    fmt: str = "csv",
    allow_free_text: frozenset[str] = frozenset(),
    created_by: str = "",
    batch_size: int = PATIENT_BATCH,
) -> dict[str, Any]:
    if fmt not in ("csv", "parquet"):
        raise ValueError("format must be csv or parquet")
    research = plan(allow_free_text=allow_free_text)
    assembler = ZipAssembler(fmt)
    sinks = {t.spec.name: assembler.sink(t) for t in research.tables}
    with snapshot():
        opted_out = patients.filter(deleted_at__isnull=True, national_data_opt_out=True).count()
        for _batch, rows in iter_batches(research, patients, batch_size=batch_size):
            for name, table_rows in rows.items():
                sinks[name].write(table_rows)
    extras = [
        assembler.extra("dictionary.csv", dictionary.as_csv(research.tables)),
        assembler.extra(
            "dictionary.md", dictionary.as_markdown(research.tables, title="pDVA registry research export")
        ),
    ]
    manifest = {
        "kind": "research",
        "format": fmt,
        "export_id": str(uuid.uuid4()),
        "created_at": timezone.now().isoformat(),
        "created_by": created_by,
        "value_set_version": VALUE_SET_VERSION,
        "patients": sinks["patients"].rows,
        "excluded_national_data_opt_out": opted_out,
        "deidentification": {
            "keys": "per-export pseudonyms (keyed hash under a random key discarded after the export); "
            "not linkable to the registry or to other exports",
            "dates": "converted to days from each patient's first index procedure (day 0)",
            "ages": f"ages of {lib.AGE_TOP_CODE} and over reported as {lib.AGE_TOP_CODE}",
            "identifiers": "none (no NHS number, name, date of birth, postcode or registry id)",
            "free_text": sorted(allow_free_text) or "dropped",
            "national_data_opt_out": "patients with a national data opt-out are excluded",
        },
        "tables": {t.spec.name: sinks[t.spec.name].rows for t in research.tables},
    }
    return assembler.finish(out, manifest, extras)


def all_patients() -> QuerySet:
    return Patient.objects.all()
