"""The registry as plain tables: what the endpoint derivation reads (pure pandas, no Django).

``pdva.outcomes.load`` fills these from registry querysets; the benchmark builds them synthetically. All dates
are numpy ``datetime64[D]``-compatible columns (pandas datetime), identifiers are integers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pandas as pd

COLUMNS: dict[str, tuple[str, ...]] = {
    "procedures": (
        "procedure_id",
        "patient_id",
        "site",
        "operator",
        "index_limb",
        "procedure_date",
        "technical_success",
        "length_of_stay_days",
        "age_at_procedure",
        "technique_family",
        "sex",
        "ethnicity",
        "imd_decile",
        "rutherford",
        "wifi_stage",
        "dialysis_dependent",
        "wound_at_baseline",
        "heart_failure",
    ),
    "deaths": ("patient_id", "date_of_death"),
    "amputations": ("patient_id", "limb", "date", "is_major"),
    "reinterventions": ("procedure_id", "date", "planned", "is_major", "indication"),
    "visits": (
        "procedure_id",
        "visit_date",
        "circuit_patency",
        "wound_status",
        "complete_healing_date",
        "worsening_perfusion",
        "rutherford",
    ),
    "adverse_events": ("procedure_id", "onset_date", "category"),
    "medications": ("patient_id", "drug_class", "start_date", "stop_date"),
    # One row per PROM administration with its measure values (pdva.outcomes.proms.administration_values).
    "proms": (
        "patient_id",
        "procedure_id",
        "instrument",
        "timepoint",
        "completed_date",
        "completion_status",
        "eq5d_index",
        "eq5d_vas",
        "vq6_total",
        "pain_nrs",
        "scored_here",
    ),
}
DATE_COLUMNS = {
    "procedure_date",
    "date_of_death",
    "date",
    "visit_date",
    "complete_healing_date",
    "onset_date",
    "start_date",
    "stop_date",
    "completed_date",
}


@dataclass
class RegistryFrames:
    procedures: pd.DataFrame
    deaths: pd.DataFrame
    amputations: pd.DataFrame
    reinterventions: pd.DataFrame
    visits: pd.DataFrame
    adverse_events: pd.DataFrame
    medications: pd.DataFrame
    proms: pd.DataFrame

    @classmethod
    def from_records(cls, **tables: list[dict] | pd.DataFrame) -> RegistryFrames:
        """Build from lists of dicts (or DataFrames); missing tables are empty, dates become datetimes."""
        built = {}
        for f in fields(cls):
            cols = COLUMNS[f.name]
            raw = tables.get(f.name, [])
            df = raw.copy() if isinstance(raw, pd.DataFrame) else pd.DataFrame(list(raw), columns=list(cols))
            for col in cols:
                if col not in df.columns:
                    df[col] = pd.NA
            for col in cols:
                if col in DATE_COLUMNS:
                    df[col] = pd.to_datetime(df[col])
            built[f.name] = df[list(cols)].reset_index(drop=True)
        return cls(**built)
