"""Endpoint estimates, overall and by every stratum, computed with ``pdva.stats`` (pure: no Django).

``endpoint_table`` returns one long DataFrame: endpoint x stratum variable x group x time point, with the group
size, number at risk, cumulative events, estimate and 95% interval. Each stratified estimate is one vectorised
``pdva.stats`` call per stratum variable (no loop over groups).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats as sps

from pdva import stats
from pdva.outcomes import definitions as d
from pdva.outcomes.derive import (
    ANTITHROMBOTIC_CLASSES,
    SAFETY_CATEGORIES,
    Derived,
    cif_input,
    km_input,
    window_status,
)

COLUMNS = [
    "endpoint",
    "label",
    "kind",
    "stratum",
    "group",
    "timepoint",
    "day",
    "n",
    "n_risk",
    "events",
    "estimate",
    "lower",
    "upper",
    "median",
    "method",
]
ALL = "all"


def _groups(t: pd.DataFrame, stratum: str) -> pd.Series:
    if stratum == ALL:
        return pd.Series("All", index=t.index, name=ALL)
    return t[stratum].astype(str).rename(stratum)


def _timepoint_days(names: Iterable[str]) -> tuple[list[str], np.ndarray]:
    names = [n for n in names if n in d.TIMEPOINTS]
    return names, np.array([d.TIMEPOINTS[n] for n in names], dtype=float)


def _open_ended(groups: np.ndarray, time: np.ndarray, censored: np.ndarray) -> pd.Series:
    """Per group: True when its last observation is a censoring (the curve is unknown beyond it)."""
    df = pd.DataFrame({"g": groups, "t": time, "c": censored})
    last = df.groupby("g")["t"].transform("max")
    return df[df["t"] == last].groupby("g")["c"].any()


def _survival_rows(t: pd.DataFrame, e: d.Endpoint, stratum: str) -> pd.DataFrame:
    time, event, mask = km_input(t, e.key)
    if not mask.any():
        return pd.DataFrame(columns=COLUMNS)
    g = _groups(t, stratum)[mask]
    res = stats.kaplan_meier_strata(time[mask], event[mask], {"group": g.to_numpy()})
    names, days = _timepoint_days(e.timepoints)
    at = res.at(days, extend=True)
    sizes = res.median().set_index("group")["n"]
    at["events"] = at.groupby("group")["n_event"].cumsum()
    open_ended = _open_ended(g.to_numpy(), time[mask], event[mask] == 0)
    beyond = (at["n_risk"] == 0) & (at["survival"] > 0) & at["group"].map(open_ended).astype(bool)
    est = at["survival"].where(~beyond)
    return pd.DataFrame(
        {
            "endpoint": e.key,
            "label": e.label,
            "kind": e.kind,
            "stratum": stratum,
            "group": at["group"].to_numpy(),
            "timepoint": np.tile(names, len(sizes)),
            "day": at["time"].to_numpy(),
            "n": at["group"].map(sizes).to_numpy(),
            "n_risk": at["n_risk"].to_numpy(),
            "events": at["events"].to_numpy(),
            "estimate": est.to_numpy(),
            "lower": at["lower"].where(~beyond).to_numpy(),
            "upper": at["upper"].where(~beyond).to_numpy(),
            "method": "Kaplan-Meier, log CI",
        }
    )


def _cif_rows(t: pd.DataFrame, e: d.Endpoint, stratum: str) -> pd.DataFrame:
    time, cause, mask = cif_input(t, e.key)
    if not mask.any():
        return pd.DataFrame(columns=COLUMNS)
    g = _groups(t, stratum)[mask]
    res = stats.cumulative_incidence_strata(time[mask], cause[mask], {"group": g.to_numpy()}, n_causes=2)
    names, days = _timepoint_days(e.timepoints)
    at = res.at(days, extend=True)
    at = at[at["cause"] == 1].reset_index(drop=True)
    sizes = pd.Series(g.to_numpy()).value_counts()
    at["events"] = at.groupby("group")["n_event"].cumsum()
    open_ended = _open_ended(g.to_numpy(), time[mask], cause[mask] == 0)
    beyond = (at["n_risk"] == 0) & at["group"].map(open_ended).astype(bool)
    return pd.DataFrame(
        {
            "endpoint": e.key,
            "label": e.label,
            "kind": e.kind,
            "stratum": stratum,
            "group": at["group"].to_numpy(),
            "timepoint": np.tile(names, len(at) // max(len(names), 1)),
            "day": at["time"].to_numpy(),
            "n": at["group"].map(sizes).to_numpy(),
            "n_risk": at["n_risk"].to_numpy(),
            "events": at["events"].to_numpy(),
            "estimate": at["cif"].where(~beyond).to_numpy(),
            "lower": at["lower"].where(~beyond).to_numpy(),
            "upper": at["upper"].where(~beyond).to_numpy(),
            "method": "Aalen-Johansen, competing risks, log-log CI",
        }
    )


def _proportion_rows(
    key: str,
    label: str,
    outcome: np.ndarray,
    known: np.ndarray,
    t: pd.DataFrame,
    stratum: str,
    timepoint: str,
    day: float,
    method: str = "wilson",
) -> pd.DataFrame:
    if not known.any():
        return pd.DataFrame(columns=COLUMNS)
    g = _groups(t, stratum)[known]
    res = stats.proportion_ci_strata(outcome[known].astype(np.int8), {"group": g.to_numpy()}, method=method)
    return pd.DataFrame(
        {
            "endpoint": key,
            "label": label,
            "kind": "proportion",
            "stratum": stratum,
            "group": res["group"].to_numpy(),
            "timepoint": timepoint,
            "day": day,
            "n": res["n"].to_numpy(),
            "n_risk": np.nan,
            "events": res["x"].to_numpy(),
            "estimate": res["estimate"].to_numpy(),
            "lower": res["lower"].to_numpy(),
            "upper": res["upper"].to_numpy(),
            "method": "Wilson 95% CI" if method == "wilson" else "Clopper-Pearson 95% CI",
        }
    )


def poisson_rate_ci(
    count: np.ndarray, exposure: np.ndarray, conf: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval for a Poisson rate count/exposure."""
    a = (1 - conf) / 2
    count = np.asarray(count, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(count > 0, sps.chi2.ppf(a, 2 * count) / 2, 0.0) / exposure
        hi = sps.chi2.ppf(1 - a, 2 * count + 2) / 2 / exposure
    return lo, hi


def _rate_rows(t: pd.DataFrame, stratum: str) -> pd.DataFrame:
    g = _groups(t, stratum)
    years = np.maximum(t["end_day"].to_numpy(dtype=float), 0.0) / 365.25
    out = []
    for key, col, label in (
        ("reintervention_rate_planned", "n_planned_reint", "Planned reinterventions per patient-year"),
        ("reintervention_rate_unplanned", "n_unplanned_reint", "Unplanned reinterventions per patient-year"),
    ):
        agg = pd.DataFrame({"group": g.to_numpy(), "count": t[col].to_numpy(), "years": years}).groupby(
            "group"
        )
        s = agg.agg(count=("count", "sum"), years=("years", "sum"), n=("count", "size")).reset_index()
        s = s[s["years"] > 0]
        lo, hi = poisson_rate_ci(s["count"].to_numpy(), s["years"].to_numpy())
        out.append(
            pd.DataFrame(
                {
                    "endpoint": key,
                    "label": label,
                    "kind": "rate",
                    "stratum": stratum,
                    "group": s["group"].to_numpy(),
                    "timepoint": "all follow-up",
                    "day": np.nan,
                    "n": s["n"].to_numpy(),
                    "n_risk": s["years"].to_numpy(),
                    "events": s["count"].to_numpy(),
                    "estimate": (s["count"] / s["years"]).to_numpy(),
                    "lower": lo,
                    "upper": hi,
                    "method": "events / patient-years, exact Poisson 95% CI",
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def _summary_rows(t: pd.DataFrame, stratum: str) -> pd.DataFrame:
    g = _groups(t, stratum)
    out = []
    items = [(f"{c}_days", f"{c}_days", f"Days on {c} therapy (median, IQR)") for c in ANTITHROMBOTIC_CLASSES]
    items.append(("length_of_stay", "length_of_stay", "Length of stay, days (median, IQR)"))
    for key, col, label in items:
        v = pd.DataFrame({"group": g.to_numpy(), "v": t[col].to_numpy(dtype=float)}).dropna()
        if v.empty:
            continue
        q = v.groupby("group")["v"].quantile([0.25, 0.5, 0.75]).unstack()
        n = v.groupby("group").size()
        out.append(
            pd.DataFrame(
                {
                    "endpoint": key,
                    "label": label,
                    "kind": "summary",
                    "stratum": stratum,
                    "group": q.index.to_numpy(),
                    "timepoint": "",
                    "day": np.nan,
                    "n": n.reindex(q.index).to_numpy(),
                    "n_risk": np.nan,
                    "events": np.nan,
                    "estimate": q[0.5].to_numpy(),
                    "lower": q[0.25].to_numpy(),
                    "upper": q[0.75].to_numpy(),
                    "method": "median (IQR)",
                }
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COLUMNS)


def _binary_rows(t: pd.DataFrame, stratum: str) -> pd.DataFrame:
    out = []
    ts = t["technical_success"].to_numpy(dtype=float)
    out.append(
        _proportion_rows(
            "technical_success",
            "Technical success",
            np.nan_to_num(ts),
            ~np.isnan(ts),
            t,
            stratum,
            "procedure",
            0.0,
        )
    )
    death = t["death_day"].to_numpy(dtype=float)
    male_pod = np.fmin(t["male_day"].to_numpy(dtype=float), death)
    occ, known = window_status(t, male_pod, 30)
    out.append(
        _proportion_rows(
            "male_pod_30", "MALE or perioperative death (30 days)", occ, known, t, stratum, "30 days", 30.0
        )
    )
    for cat in SAFETY_CATEGORIES:
        for tp, window in d.SAFETY_WINDOWS.items():
            occ, known = window_status(t, t[f"ae_{cat}_day"].to_numpy(dtype=float), window)
            out.append(
                _proportion_rows(
                    f"safety_{cat}", d.SAFETY_OUTCOMES[cat], occ, known, t, stratum, tp, float(window)
                )
            )
    due = t["fu12_due"].to_numpy(dtype=bool)
    out.append(
        _proportion_rows(
            "followup_12m",
            "12-month follow-up (9-21 months)",
            t["fu12_done"].to_numpy(dtype=bool),
            due,
            t,
            stratum,
            "12 months",
            365.0,
        )
    )
    return pd.concat([o for o in out if len(o)], ignore_index=True) if out else pd.DataFrame(columns=COLUMNS)


def _prom_change_rows(t: pd.DataFrame, stratum: str) -> pd.DataFrame:
    """Mean change from baseline (95% t interval) and median per PROM measure and time point: one group-by
    over every change column per stratum."""
    cols = {
        f"prom_{m}_{code}_change": (m, label, tp, day)
        for m, (_, label, _better) in d.PROM_MEASURES.items()
        for code, (tp, day) in d.PROM_CHANGE_TIMEPOINTS.items()
        if f"prom_{m}_{code}_change" in t
    }
    if not cols:
        return pd.DataFrame(columns=COLUMNS)
    values = t[list(cols)].astype(float)
    if values.notna().to_numpy().sum() == 0:
        return pd.DataFrame(columns=COLUMNS)
    agg = values.groupby(_groups(t, stratum).to_numpy()).agg(["count", "mean", "std", "median"])
    out = []
    for col, (measure, label, tp, day) in cols.items():
        s = agg[col]
        s = s[s["count"] > 0]
        if s.empty:
            continue
        n = s["count"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            half = sps.t.ppf(0.975, n - 1) * s["std"].to_numpy(dtype=float) / np.sqrt(n)
        half = np.where(n > 1, half, np.nan)
        mean = s["mean"].to_numpy(dtype=float)
        out.append(
            pd.DataFrame(
                {
                    "endpoint": f"prom_change_{measure}",
                    "label": f"Change in {label} from baseline",
                    "kind": "change",
                    "stratum": stratum,
                    "group": s.index.to_numpy(),
                    "timepoint": tp,
                    "day": float(day),
                    "n": n,
                    "n_risk": np.nan,
                    "events": np.nan,
                    "estimate": mean,
                    "lower": mean - half,
                    "upper": mean + half,
                    "median": s["median"].to_numpy(dtype=float),
                    "method": "mean change, 95% t interval; median",
                }
            )
        )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COLUMNS)


def _prom_completion_rows(t: pd.DataFrame, targets: Iterable, stratum: str) -> pd.DataFrame:
    out = []
    for tgt in targets:
        done = t[f"prom_{tgt.instrument}_{tgt.code}_done"].to_numpy(dtype=bool)
        due = t[f"prom_{tgt.instrument}_{tgt.code}_due"].to_numpy(dtype=bool)
        out.append(
            _proportion_rows(
                f"prom_completion_{tgt.instrument}",
                f"{d.PROM_INSTRUMENTS.get(tgt.instrument, tgt.instrument)} completed",
                done,
                due,
                t,
                stratum,
                tgt.label,
                float(tgt.target),
            )
        )
    out = [o for o in out if len(o)]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=COLUMNS)


def endpoint_table(derived: Derived, strata: Iterable[str] | None = None) -> pd.DataFrame:
    """Every endpoint overall ('all') and by each stratum variable."""
    t = derived.table
    strata = [ALL, *d.STRATA] if strata is None else list(strata)
    parts: list[pd.DataFrame] = []
    if len(t) == 0:
        return pd.DataFrame(columns=COLUMNS)
    for stratum in strata:
        for e in d.ENDPOINTS:
            if e.kind == "km":
                parts.append(_survival_rows(t, e, stratum))
            elif e.kind == "cif":
                parts.append(_cif_rows(t, e, stratum))
        parts.append(_binary_rows(t, stratum))
        parts.append(_rate_rows(t, stratum))
        parts.append(_summary_rows(t, stratum))
        parts.append(_prom_change_rows(t, stratum))
        parts.append(_prom_completion_rows(t, derived.notes.get("prom_targets", []), stratum))
    parts = [p for p in parts if len(p)]
    out = pd.concat(parts, ignore_index=True).reindex(columns=COLUMNS)
    for col in ("n", "n_risk", "events", "estimate", "lower", "upper", "median", "day"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def curve(derived: Derived, key: str, stratum: str = ALL) -> pd.DataFrame:
    """Step-curve data for a chart: group, time, estimate (survival for KM, incidence for CIF), n_risk."""
    t = derived.table
    e = d.endpoint(key)
    if len(t) == 0:
        return pd.DataFrame(columns=["group", "time", "estimate", "lower", "upper", "n_risk"])
    if e.kind == "km":
        time, event, mask = km_input(t, key)
        res = stats.kaplan_meier_strata(
            time[mask], event[mask], {"group": _groups(t, stratum)[mask].to_numpy()}
        )
        tab = res.table.rename(columns={"survival": "estimate"})
    else:
        time, cause, mask = cif_input(t, key)
        if not mask.any():
            return pd.DataFrame(columns=["group", "time", "estimate", "lower", "upper", "n_risk"])
        res = stats.cumulative_incidence_strata(
            time[mask], cause[mask], {"group": _groups(t, stratum)[mask].to_numpy()}, n_causes=2
        )
        tab = res.table
        tab = tab[tab["cause"] == 1].rename(columns={"cif": "estimate"})
    return tab[["group", "time", "estimate", "lower", "upper", "n_risk"]].reset_index(drop=True)


def numbers_at_risk(derived: Derived, key: str, days: Iterable[float], stratum: str = ALL) -> pd.DataFrame:
    t = derived.table
    if len(t) == 0:
        return pd.DataFrame(columns=["group", "time", "n_risk"])
    e = d.endpoint(key)
    if e.kind == "km":
        time, event, mask = km_input(t, key)
    else:
        time, cause, mask = cif_input(t, key)
        event = (cause > 0).astype(np.int8)
    res = stats.kaplan_meier_strata(time[mask], event[mask], {"group": _groups(t, stratum)[mask].to_numpy()})
    return res.at(np.asarray(list(days), dtype=float), extend=True)[["group", "time", "n_risk"]]


def value(
    table: pd.DataFrame, endpoint: str, timepoint: str | None = None, stratum: str = ALL, group: str = "All"
) -> pd.Series | None:
    rows = table[(table["endpoint"] == endpoint) & (table["stratum"] == stratum) & (table["group"] == group)]
    if timepoint is not None:
        rows = rows[rows["timepoint"] == timepoint]
    return None if rows.empty else rows.iloc[0]
