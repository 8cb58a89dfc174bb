"""Read registry querysets into ``RegistryFrames`` (the only Django-aware module of pdva.outcomes).

Callers decide the scope: ``site_ids`` comes from ``pdva.accounts.access.site_ids_for`` (None = every site,
an empty set = nothing). Soft-deleted rows are never read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

import pandas as pd

import pdva
from pdva.outcomes.derive import Derived, derive
from pdva.outcomes.endpoints import endpoint_table
from pdva.outcomes.frames import RegistryFrames
from pdva.outcomes.proms import (
    MEASURE_COLUMNS,
    PRIMARY_METHOD_PREFIX,
    SCORED_STATUSES,
    CompletionTarget,
    completion_targets,
    measure_values,
)
from pdva.reference.tables import CURRENT
from pdva.registry import choices as c
from pdva.registry import models as m

ROW_CHUNK = 10_000


def _scope(qs, site_ids: Collection[int] | None):  # type: ignore[no-untyped-def]
    qs = qs.alive()
    return qs if site_ids is None else qs.for_sites(list(site_ids))


def load_frames(site_ids: Collection[int] | None, *, operator_id: int | None = None) -> RegistryFrames:
    procs = _scope(m.Procedure.objects, site_ids)
    if operator_id is not None:
        procs = procs.filter(operator_id=operator_id)
    proc_rows = list(
        procs.values(
            "id",
            "patient_id",
            "patient__site__ods_code",
            "operator__code",
            "index_limb",
            "procedure_date",
            "technical_success",
            "length_of_stay_days",
            "age_at_procedure",
            "technique_family",
            "patient__sex",
            "patient__ethnicity",
            "patient__imd_decile",
            "baseline__rutherford",
            "baseline__wifi_stage",
            "baseline__unsalvageable",
            "baseline__dialysis_dependent",
            "baseline__wound_count",
            "baseline__wifi_w",
            "baseline__heart_failure",
        )
    )
    procedures = [
        {
            "procedure_id": r["id"],
            "patient_id": r["patient_id"],
            "site": r["patient__site__ods_code"],
            "operator": r["operator__code"],
            "index_limb": r["index_limb"],
            "procedure_date": r["procedure_date"],
            "technical_success": r["technical_success"],
            "length_of_stay_days": r["length_of_stay_days"],
            "age_at_procedure": r["age_at_procedure"],
            "technique_family": r["technique_family"],
            "sex": r["patient__sex"],
            "ethnicity": r["patient__ethnicity"],
            "imd_decile": r["patient__imd_decile"],
            "rutherford": r["baseline__rutherford"],
            "wifi_stage": 5 if r["baseline__unsalvageable"] else r["baseline__wifi_stage"],
            "dialysis_dependent": r["baseline__dialysis_dependent"] or c.NOT_KNOWN,
            "heart_failure": r["baseline__heart_failure"] or c.NOT_KNOWN,
            "wound_at_baseline": bool(
                (r["baseline__wound_count"] or 0) > 0 or (r["baseline__wifi_w"] or 0) > 0
            ),
        }
        for r in proc_rows
    ]
    proc_ids = [r["id"] for r in proc_rows]
    patient_ids = sorted({r["patient_id"] for r in proc_rows})
    by_proc = {"procedure_id__in": proc_ids}
    by_patient = {"patient_id__in": patient_ids}

    def rows(model, filt, **fields_map):  # type: ignore[no-untyped-def]
        # Tuples streamed in chunks, not a dict per row held by the queryset: at national scale (hundreds
        # of thousands of visits) the dicts were most of the computation's memory.
        qs = model.objects.alive().filter(**filt).values_list(*fields_map.values())
        return pd.DataFrame.from_records(qs.iterator(chunk_size=ROW_CHUNK), columns=list(fields_map))

    return RegistryFrames.from_records(
        procedures=procedures,
        deaths=rows(m.Death, by_patient, patient_id="patient_id", date_of_death="date_of_death"),
        amputations=rows(
            m.Amputation, by_patient, patient_id="patient_id", limb="limb", date="date", is_major="is_major"
        ),
        reinterventions=rows(
            m.Reintervention,
            by_proc,
            procedure_id="procedure_id",
            date="date",
            planned="planned",
            is_major="is_major",
            indication="indication",
        ),
        visits=rows(
            m.FollowUpVisit,
            by_proc,
            procedure_id="procedure_id",
            visit_date="visit_date",
            circuit_patency="circuit_patency",
            wound_status="wound_status",
            complete_healing_date="complete_healing_date",
            rutherford="rutherford",
            worsening_perfusion="worsening_perfusion",
        ),
        adverse_events=rows(
            m.AdverseEvent, by_proc, procedure_id="procedure_id", onset_date="onset_date", category="category"
        ),
        medications=rows(
            m.Medication,
            by_patient,
            patient_id="patient_id",
            drug_class="drug_class",
            start_date="start_date",
            stop_date="stop_date",
        ),
        proms=prom_rows(by_patient),
    )


def prom_rows(by_patient: dict) -> pd.DataFrame:
    """PROM administrations with their measure values. Scores stored by pdva.proms are used; an
    administration it has not scored yet is scored with its pure scoring function (the EQ-5D index mapping
    needs the age at completion, read from the encrypted identity only for those administrations).

    Rows are streamed and reduced to their columns as they arrive: holding every administration's decoded
    answers at once was the national computation's peak memory."""
    adms = m.PromAdministration.objects.alive().filter(**by_patient)
    need_age = set(
        adms.filter(instrument="eq5d5l", completion_status__in=SCORED_STATUSES)
        .exclude(score_method__startswith=PRIMARY_METHOD_PREFIX["eq5d5l"])
        .values_list("patient_id", flat=True)
        .distinct()
    )
    identities = {i.patient_id: i for i in m.PatientIdentity.objects.filter(patient_id__in=sorted(need_age))}
    fields = (
        "patient_id",
        "procedure_id",
        "instrument",
        "timepoint",
        "completed_date",
        "completion_status",
        "responses",
        "score",
        "score_method",
        "patient__sex",
    )
    base_columns = list(fields[:6])
    value_columns = [*MEASURE_COLUMNS, "scored_here"]
    base: list[tuple] = []
    values: list[tuple] = []
    for row in adms.values(*fields).iterator(chunk_size=ROW_CHUNK):
        identity = identities.get(row["patient_id"])
        row["age"] = identity.age_on(row["completed_date"]) if identity is not None else None
        row["sex"] = row["patient__sex"]
        measured, here = measure_values(row)
        base.append(tuple(row[c] for c in base_columns))
        values.append((*(measured[c] for c in MEASURE_COLUMNS), here))
    return pd.concat(
        [
            pd.DataFrame.from_records(base, columns=base_columns),
            pd.DataFrame.from_records(values, columns=value_columns),
        ],
        axis=1,
    )


@dataclass
class Analysis:
    """One reproducible analysis: inputs, derived endpoint inputs, the endpoint table and its provenance."""

    cutoff: dt.date
    site_ids: list[int] | None
    frames: RegistryFrames
    derived: Derived
    table: pd.DataFrame
    provenance: dict = field(default_factory=dict)


def provenance(cutoff: dt.date) -> dict:
    from pdva.outcomes.definitions import SAP_VERSION

    return {
        "data_cutoff": cutoff.isoformat(),
        "software_version": pdva.__version__,
        "value_set_version": c.VALUE_SET_VERSION,
        "reference_tables": dict(CURRENT),
        "definitions": f"pDVA statistical analysis plan v{SAP_VERSION} (pdva.outcomes.definitions)",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def current_prom_targets() -> list[CompletionTarget] | None:
    """The PROM time points of the follow-up schedule adopted in pdva.followup (None: its default)."""
    try:
        from pdva.followup.services.items import current_schedule
    except ImportError:
        return None
    return completion_targets(current_schedule())


def analyse(
    site_ids: Collection[int] | None,
    cutoff: dt.date | None = None,
    *,
    operator_id: int | None = None,
    strata: Collection[str] | None = None,
) -> Analysis:
    cutoff = cutoff or dt.date.today()
    frames = load_frames(site_ids, operator_id=operator_id)
    derived = derive(frames, cutoff, prom_targets=current_prom_targets())
    table = endpoint_table(derived, strata)
    return Analysis(
        cutoff=cutoff,
        site_ids=None if site_ids is None else sorted(site_ids),
        frames=frames,
        derived=derived,
        table=table,
        provenance=provenance(cutoff),
    )
