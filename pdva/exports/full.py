"""Full export: every table the user may see, in the registry's own dictionary format (a zip of CSVs keyed
by stable UUIDs and natural keys), canonically ordered so the same registry always gives the same bytes.
Identifiers are included only for sites where the user may see them. The importer reads this format back."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from pdva.exports import dictionary
from pdva.exports.columns import TableColumns, full_columns
from pdva.exports.stream import PATIENT_BATCH, ZipAssembler, batch_rows, patient_batches, snapshot
from pdva.exports.tables import TABLES
from pdva.registry.choices import VALUE_SET_VERSION

FORMAT_VERSION = "pdva-full-1"
SITE_ORDER = {
    "sites": ("ods_code",),
    "site_governance": ("site__ods_code",),
    "operators": ("site__ods_code", "code"),
}


def full_tables(*, identifiers: bool) -> list[TableColumns]:
    return [full_columns(t) for t in TABLES if identifiers or t.name != "patient_identities"]


def export_full(
    site_ids: list[int],
    out: Path,
    *,
    identifier_site_ids: set[int],
    created_by: str = "",
    batch_size: int = PATIENT_BATCH,
) -> dict[str, Any]:
    from pdva.registry.models import Patient

    identifiers = bool(identifier_site_ids)
    tables = full_tables(identifiers=identifiers)
    assembler = ZipAssembler("csv")
    sinks = {t.spec.name: assembler.sink(t) for t in tables}
    with snapshot():
        for table in tables:
            if table.spec.patient_path is None:
                qs = table.spec.model._base_manager.filter(
                    deleted_at__isnull=True, **{f"{table.spec.site_path}__in": site_ids}
                )
                sinks[table.spec.name].write(
                    [
                        table.convert(r)
                        for r in qs.order_by(*SITE_ORDER[table.spec.name]).values_list(*table.sources)
                    ]
                )
        patients: QuerySet = Patient.objects.filter(deleted_at__isnull=True, site_id__in=site_ids)
        ids = patients.order_by("uuid").values_list("id", flat=True)
        for batch in patient_batches(ids, batch_size):
            for table in tables:
                if table.spec.patient_path is None:
                    continue
                wanted = batch
                if table.spec.name == "patient_identities":
                    wanted = list(
                        patients.filter(id__in=batch, site_id__in=identifier_site_ids).values_list(
                            "id", flat=True
                        )
                    )
                    position = {pid: n for n, pid in enumerate(batch)}
                    wanted.sort(key=position.__getitem__)
                    if not wanted:
                        continue
                sinks[table.spec.name].write(
                    batch_rows(
                        table,
                        wanted,
                        order=("uuid",) if table.spec.name != "patient_identities" else ("patient__uuid",),
                        sort_by_patient=True,
                    )
                )
    extras = [
        assembler.extra("dictionary.csv", dictionary.as_csv(tables)),
        assembler.extra("dictionary.md", dictionary.as_markdown(tables, title="pDVA registry full export")),
    ]
    manifest = {
        "kind": "full",
        "format_version": FORMAT_VERSION,
        "export_id": str(uuid.uuid4()),
        "created_at": timezone.now().isoformat(),
        "created_by": created_by,
        "value_set_version": VALUE_SET_VERSION,
        "identifiers_included": identifiers,
        "tables": {t.spec.name: sinks[t.spec.name].rows for t in tables},
    }
    return assembler.finish(out, manifest, extras)
