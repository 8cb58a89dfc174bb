"""PROM values per administration and change from baseline per index procedure (pure: no Django).

Scores come from pdva.proms: the score it stored on the administration (``score`` with ``score_method``) when
that is the current primary method, otherwise its pure scoring functions (``pdva.proms.lib.scoring``) are run
here on the raw responses. Rules (baseline, follow-up value, completion) are stated in
``definitions.PROM_BASELINE_RULE`` and ``definitions.OTHER_SUMMARIES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pdva.outcomes import definitions as d
from pdva.proms.lib import eq5d, scoring

MEASURE_COLUMNS = tuple(d.PROM_MEASURES)
SCORED_STATUSES = ("complete", "partial")  # pdva.proms scores only these
# The method pdva.proms stores for an administration's primary score, per instrument (prefix match).
PRIMARY_METHOD_PREFIX = {
    "eq5d5l": eq5d.PRIMARY_VALUE_SET + "@",
    "vascuqol6": scoring.VQ6_RULE,
    "pain_nrs": "nrs_0_10",
}


def _number(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if v != v else v


def _stored(row: Mapping[str, Any]) -> float | None:
    method = row.get("score_method") or ""
    prefix = PRIMARY_METHOD_PREFIX.get(row.get("instrument", ""), "\0")
    return _number(row.get("score")) if method.startswith(prefix) else None


def measure_values(row: Mapping[str, Any]) -> tuple[dict[str, float | None], bool]:
    """({measure: value}, scored_here) for one administration (keys: instrument, completion_status,
    responses, score, score_method, age, sex). ``scored_here`` is True when the primary score was not stored
    by pdva.proms and was computed here with its scoring function."""
    values: dict[str, float | None] = dict.fromkeys(MEASURE_COLUMNS)
    if row.get("completion_status", "complete") not in SCORED_STATUSES:
        return values, False
    instrument = row.get("instrument", "")
    responses = row.get("responses") or {}
    stored = _stored(row)
    if instrument == "eq5d5l":
        age = row.get("age")
        scores = scoring.score_eq5d5l(
            responses,
            age=None if _number(age) is None else int(age),  # type: ignore[arg-type]
            sex=row.get("sex"),
            value_sets=(eq5d.PRIMARY_VALUE_SET,),
        )
        by_measure = {s.measure: s.value for s in scores}
        values["eq5d_vas"] = by_measure.get("eq5d_vas")
        computed = scoring.primary(instrument, scores)
        values["eq5d_index"] = stored if stored is not None else (computed.value if computed else None)
        return values, stored is None and values["eq5d_index"] is not None
    if instrument in ("vascuqol6", "pain_nrs"):
        measure = scoring.PRIMARY_MEASURE[instrument]
        if stored is not None:
            values[measure] = stored
            return values, False
        computed = scoring.primary(instrument, scoring.score(instrument, responses))
        values[measure] = computed.value if computed else None
        return values, values[measure] is not None
    return values, False


def administration_values(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per administration: the four measure columns and ``scored_here``."""
    out = []
    for row in rows:
        values, here = measure_values(row)
        out.append({**values, "scored_here": here})
    return pd.DataFrame(out, columns=[*MEASURE_COLUMNS, "scored_here"])


@dataclass(frozen=True)
class CompletionTarget:
    code: str  # schedule time point code
    label: str
    target: int  # day
    close: int  # last day of the window
    instrument: str


def completion_targets(schedule: Any) -> list[CompletionTarget]:
    """Every (time point, PROM instrument) the follow-up schedule expects (pdva.followup.lib.schedule)."""
    out = []
    for rule in schedule.timepoints:
        for e in rule.expects:
            if e.startswith("prom:"):
                out.append(CompletionTarget(rule.code, rule.label, rule.target, rule.close, e[5:]))
    return out


def _long(proms: pd.DataFrame) -> pd.DataFrame:
    """Administrations x measures with a value: patient, procedure, timepoint, date, measure, value."""
    cols = ["patient_id", "procedure_id", "timepoint", "completed_date"]
    present = [m for m in MEASURE_COLUMNS if m in proms.columns]
    if proms.empty or not present:
        return pd.DataFrame(columns=[*cols, "measure", "value"])
    long = proms[cols + present].melt(id_vars=cols, var_name="measure", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long[long["value"].notna()]


def prom_columns(
    p: pd.DataFrame,
    proms: pd.DataFrame,
    *,
    cutoff_day: np.ndarray,
    dead: np.ndarray,
    death_day: np.ndarray,
    targets: list[CompletionTarget],
) -> pd.DataFrame:
    """Per index procedure (rows of ``p``): baseline, follow-up values and change per measure and time point,
    where the baseline came from, and PROM completion (done, due) per scheduled (time point, instrument)."""
    pid = p["procedure_id"].to_numpy()
    out: dict[str, np.ndarray] = {}
    long = _long(proms)
    proc = p[["procedure_id", "patient_id", "procedure_date"]]
    # Baseline candidates: the patient's administrations up to the procedure date, within the look-back.
    long["completed_date"] = pd.to_datetime(long["completed_date"])
    cand = long.merge(proc, on="patient_id", suffixes=("", "_index"))
    if len(cand):
        linked = cand["procedure_id"].isna() | (cand["procedure_id"] == cand["procedure_id_index"])
        day = (cand["completed_date"] - cand["procedure_date"]).dt.days
        cand = cand[linked & (day <= 0) & (day >= -d.PROM_BASELINE_LOOKBACK_DAYS)]
    pre = (
        cand.sort_values(["completed_date"], kind="stable")
        .groupby(["procedure_id_index", "measure"])["value"]
        .last()
    )
    on_proc = long[long["procedure_id"].isin(pid)].sort_values("completed_date", kind="stable")
    first = on_proc.groupby(["procedure_id", "timepoint", "measure"])["value"].first()

    def lookup(series: pd.Series, *key: str) -> np.ndarray:
        if series.empty:
            return np.full(len(pid), np.nan)
        try:
            sub = series.xs(key, level=tuple(range(1, len(key) + 1)))
        except KeyError:
            return np.full(len(pid), np.nan)
        return sub.reindex(pid).to_numpy(dtype=float)

    for measure in MEASURE_COLUMNS:
        before = lookup(pre, measure)
        discharge = lookup(first, "discharge", measure)
        base = np.where(np.isnan(before), discharge, before)
        out[f"prom_{measure}_base"] = base
        out[f"prom_{measure}_base_source"] = np.where(
            ~np.isnan(before), "pre-procedure", np.where(~np.isnan(discharge), "discharge", "")
        )
        for code in d.PROM_CHANGE_TIMEPOINTS:
            follow = lookup(first, code, measure)
            out[f"prom_{measure}_{code}"] = follow
            out[f"prom_{measure}_{code}_change"] = follow - base
    # Completion: a complete administration labelled with the time point, linked to the procedure.
    status = (
        proms["completion_status"] if "completion_status" in proms else pd.Series("complete", proms.index)
    )
    done_rows = proms[(status == "complete").to_numpy() & proms["procedure_id"].isin(pid).to_numpy()]
    done_by = done_rows.groupby(["timepoint", "instrument"])["procedure_id"].unique()
    for tgt in targets:
        ids = done_by.get((tgt.code, tgt.instrument))
        done = np.isin(pid, ids) if ids is not None else np.zeros(len(pid), dtype=bool)
        closed = cutoff_day >= tgt.close
        alive = ~dead | (death_day > tgt.close)
        out[f"prom_{tgt.instrument}_{tgt.code}_done"] = done
        out[f"prom_{tgt.instrument}_{tgt.code}_due"] = done | (closed & alive)
    return pd.DataFrame(out, index=p.index)
