"""Formatting, periods and the endpoint-table views shared by every report."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pandas as pd

from pdva.outcomes import definitions as d
from pdva.outcomes.suppress import suppress_count, suppress_table

PERIOD = re.compile(r"^(\d{4})Q([1-4])$")
HEADLINE = [
    ("technical_success", "procedure"),
    ("afs", "30 days"),
    ("afs", "6 months"),
    ("afs", "12 months"),
    ("survival", "6 months"),
    ("survival", "12 months"),
    ("major_amputation", "6 months"),
    ("major_amputation", "12 months"),
    ("freedom_from_amputation_km", "6 months"),
    ("wound_healing", "6 months"),
    ("wound_healing", "12 months"),
    ("male", "30 days"),
    ("male", "12 months"),
    ("male_pod_30", "30 days"),
    ("reintervention_planned", "12 months"),
    ("reintervention_unplanned", "12 months"),
    ("reintervention_rate_planned", "all follow-up"),
    ("reintervention_rate_unplanned", "all follow-up"),
    ("patency_primary", "6 months"),
    ("patency_assisted", "6 months"),
    ("patency_secondary", "6 months"),
    ("patency_primary", "12 months"),
    ("patency_secondary", "12 months"),
    ("followup_12m", "12 months"),
    ("antiplatelet_days", ""),
    ("anticoagulant_days", ""),
    ("length_of_stay", ""),
]
STRATUM_COLUMNS = [
    ("afs", "6 months", "AFS 6 months"),
    ("afs", "12 months", "AFS 12 months"),
    ("major_amputation", "12 months", "Major amputation 12 months"),
    ("technical_success", "procedure", "Technical success"),
    ("male_pod_30", "30 days", "MALE or death 30 days"),
]


class PeriodError(ValueError):
    pass


def parse_period(text: str | None, today: dt.date | None = None) -> tuple[dt.date, dt.date, str]:
    """'2026Q3' -> (1 Jul 2026, 30 Sep 2026, '2026Q3'); None -> the last complete quarter."""
    today = today or dt.date.today()
    if not text:
        q = (today.month - 1) // 3  # quarters completed this year
        year, q = (today.year, q) if q else (today.year - 1, 4)
        text = f"{year}Q{q}"
    m = PERIOD.match(text.strip().upper())
    if not m:
        raise PeriodError(f"period {text!r} is not a quarter like 2026Q3")
    year, q = int(m.group(1)), int(m.group(2))
    start = dt.date(year, 3 * q - 2, 1)
    end = (dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)) - dt.timedelta(days=1)
    return start, end, f"{year}Q{q}"


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def fmt_count(x: Any, suppressed: bool = False) -> str:
    if is_missing(x):
        return "<5" if suppressed else "-"
    return f"{int(round(float(x)))}"


def fmt_value(row: pd.Series | dict) -> str:
    """Estimate and interval in the form the endpoint's kind needs."""
    est, lo, hi = row["estimate"], row["lower"], row["upper"]
    if row.get("suppressed") and is_missing(est):
        return "suppressed (small numbers)"
    if is_missing(est):
        return "not estimable"
    kind = row["kind"]
    if kind == "change":
        places = 3 if "eq5d_index" in str(row.get("endpoint", "")) else 1
        if is_missing(lo) or is_missing(hi):
            return f"{est:+.{places}f} (CI not estimable)"
        return f"{est:+.{places}f} ({lo:+.{places}f} to {hi:+.{places}f})"
    if kind == "rate":
        return f"{est:.2f} ({lo:.2f}-{hi:.2f})"
    if kind == "summary":
        return f"{est:.0f} (IQR {lo:.0f}-{hi:.0f})"
    lo_s = "-" if is_missing(lo) else f"{100 * lo:.1f}"
    hi_s = "-" if is_missing(hi) else f"{100 * hi:.1f}"
    return f"{100 * est:.1f}% ({lo_s}-{hi_s})"


def prepare(table: pd.DataFrame, suppress: bool) -> pd.DataFrame:
    if suppress:
        return suppress_table(table)
    out = table.copy()
    out["suppressed"] = False
    return out


def headline_rows(table: pd.DataFrame) -> list[dict]:
    rows = []
    allrows = table[table["stratum"] == "all"]
    for key, tp in HEADLINE:
        hit = allrows[(allrows["endpoint"] == key) & (allrows["timepoint"] == tp)]
        if hit.empty:
            continue
        r = hit.iloc[0]
        literature = key == "freedom_from_amputation_km"
        rows.append(
            {
                "label": r["label"],
                "timepoint": tp or "-",
                "n": fmt_count(r["n"], r["suppressed"]),
                "n_risk": ""
                if r["kind"] in ("proportion", "summary")
                else (
                    f"{r['n_risk']:.1f} py"
                    if r["kind"] == "rate" and not is_missing(r["n_risk"])
                    else fmt_count(r["n_risk"], r["suppressed"])
                ),
                "events": "" if r["kind"] == "summary" else fmt_count(r["events"], r["suppressed"]),
                "value": fmt_value(r),
                "method": r["method"],
                "literature_only": literature,
            }
        )
    return rows


def stratum_tables(table: pd.DataFrame, strata: list[str] | None = None) -> list[dict]:
    out = []
    for stratum in strata or list(d.STRATA):
        sub = table[table["stratum"] == stratum]
        if sub.empty:
            continue
        groups = sorted(sub["group"].unique(), key=str)
        rows = []
        for g in groups:
            gsub = sub[sub["group"] == g]
            n_row = gsub[gsub["endpoint"] == "afs"]
            cells = []
            for key, tp, _ in STRATUM_COLUMNS:
                hit = gsub[(gsub["endpoint"] == key) & (gsub["timepoint"] == tp)]
                cells.append(fmt_value(hit.iloc[0]) if len(hit) else "-")
            n = n_row.iloc[0] if len(n_row) else None
            rows.append(
                {
                    "group": g,
                    "n": fmt_count(n["n"], n["suppressed"]) if n is not None else "-",
                    "cells": cells,
                }
            )
        out.append(
            {"key": stratum, "label": d.STRATA[stratum], "rows": rows, "equity": stratum in d.EQUITY_STRATA}
        )
    return out


def safety_rows(table: pd.DataFrame) -> list[dict]:
    allrows = table[(table["stratum"] == "all") & table["endpoint"].str.startswith("safety_")]
    rows = []
    for key, label in d.SAFETY_OUTCOMES.items():
        cells = []
        for tp in d.SAFETY_WINDOWS:
            hit = allrows[(allrows["endpoint"] == f"safety_{key}") & (allrows["timepoint"] == tp)]
            if hit.empty:
                cells.append({"events": "-", "n": "-", "value": "no follow-up yet"})
                continue
            r = hit.iloc[0]
            cells.append(
                {
                    "events": fmt_count(r["events"], r["suppressed"]),
                    "n": fmt_count(r["n"], r["suppressed"]),
                    "value": fmt_value(r),
                }
            )
        rows.append({"label": label, "cells": cells})
    return rows


def published_rows() -> list[dict]:
    return [
        {
            "study": p.study,
            "outcome": p.outcome,
            "timepoint": p.timepoint,
            "value": f"{100 * p.value:.1f}%",
            "n": p.n or "-",
            "note": p.note,
        }
        for p in d.PUBLISHED
    ]


def sap_context() -> dict:
    return {
        "sap_version": d.SAP_VERSION,
        "endpoints": d.ENDPOINTS,
        "safety_method": d.SAFETY_METHOD,
        "safety_outcomes": d.SAFETY_OUTCOMES,
        "other_summaries": d.OTHER_SUMMARIES,
        "data_rules": d.DATA_RULES,
        "strata": d.STRATA,
        "timepoints": d.TIMEPOINTS,
        "threshold": d.SMALL_NUMBER_THRESHOLD,
        "case_mix": d.CASE_MIX_STATEMENT,
        "prom_baseline_rule": d.PROM_BASELINE_RULE,
    }


def followup_compliance(
    site_ids: list[int] | None, cutoff: dt.date, derived_table: pd.DataFrame
) -> pd.DataFrame:
    """Per site: x (12-month visit in the 9-21 month window) and n (due). Uses pdva.followup's engine when it is
    installed (it knows not-applicable items and the adopted schedule); otherwise the outcomes derivation."""
    try:
        from pdva.followup.services import compliance_12m
    except ImportError:
        compliance_12m = None
    if compliance_12m is not None:
        report = compliance_12m(site_ids, cutoff)
        return pd.DataFrame(
            [
                {"site": s.ods_code, "x": s.completed_in_window, "n": s.eligible, "source": "pdva.followup"}
                for s in report.sites
            ]
        )
    t = derived_table
    df = pd.DataFrame({"site": t["site"], "x": t["fu12_done"].astype(int), "n": t["fu12_due"].astype(int)})
    out = df.groupby("site", as_index=False).sum()
    out["source"] = "pdva.outcomes"
    return out


PROM_SUBGROUP_TIMEPOINT = "12 months"


def _fmt_median(row: pd.Series) -> str:
    med = row.get("median")
    if is_missing(med):
        return "suppressed" if row.get("suppressed") else "-"
    places = 3 if "eq5d_index" in str(row["endpoint"]) else 1
    return f"{med:+.{places}f}"


def prom_change_rows(table: pd.DataFrame) -> list[dict]:
    """Overall PROM change from baseline: one row per measure and time point (n pairs, mean, CI, median)."""
    allrows = table[(table["stratum"] == "all") & (table["kind"] == "change")]
    rows = []
    for measure, (_, label, better) in d.PROM_MEASURES.items():
        for tp, _day in d.PROM_CHANGE_TIMEPOINTS.values():
            hit = allrows[(allrows["endpoint"] == f"prom_change_{measure}") & (allrows["timepoint"] == tp)]
            if hit.empty:
                rows.append(
                    {"label": label, "timepoint": tp, "n": "0", "value": "no pairs yet", "median": "-"}
                )
                continue
            r = hit.iloc[0]
            rows.append(
                {
                    "label": label,
                    "timepoint": tp,
                    "n": fmt_count(r["n"], r["suppressed"]),
                    "value": fmt_value(r),
                    "median": _fmt_median(r),
                    "better": "higher" if better else "lower",
                }
            )
    return rows


def prom_completion_rows(table: pd.DataFrame) -> list[dict]:
    allrows = table[(table["stratum"] == "all") & table["endpoint"].str.startswith("prom_completion_")]
    rows = []
    for r in allrows.sort_values(["day", "endpoint"]).to_dict("records"):
        rows.append(
            {
                "instrument": r["label"].removesuffix(" completed"),
                "timepoint": r["timepoint"],
                "done": fmt_count(r["events"], r["suppressed"]),
                "due": fmt_count(r["n"], r["suppressed"]),
                "value": fmt_value(r),
            }
        )
    return rows


def prom_stratum_tables(
    table: pd.DataFrame, strata: list[str] | None = None, timepoint: str = PROM_SUBGROUP_TIMEPOINT
) -> list[dict]:
    """PROM change at one time point by subgroup: group, pairs (EQ-5D index), and the mean change per measure."""
    change = table[(table["kind"] == "change") & (table["timepoint"] == timepoint)]
    out = []
    for stratum in strata or list(d.STRATA):
        sub = change[change["stratum"] == stratum]
        if sub.empty:
            continue
        rows = []
        for g in sorted(sub["group"].unique(), key=str):
            gsub = sub[sub["group"] == g]
            cells = []
            for measure in d.PROM_MEASURES:
                hit = gsub[gsub["endpoint"] == f"prom_change_{measure}"]
                cells.append(
                    {
                        "n": fmt_count(hit.iloc[0]["n"], hit.iloc[0]["suppressed"]) if len(hit) else "0",
                        "value": fmt_value(hit.iloc[0]) if len(hit) else "-",
                    }
                )
            rows.append({"group": g, "cells": cells})
        out.append({"key": stratum, "label": d.STRATA[stratum], "rows": rows})
    return out


def prom_context(table: pd.DataFrame, derived: Any = None, suppress: bool = False) -> dict:
    """Everything the PROM section of a report shows."""
    note = ""
    if derived is not None and len(derived.table):
        src = derived.table["prom_eq5d_index_base_source"]

        def count(x: int) -> str:
            return suppress_count(x) if suppress else str(x)

        note = (
            f"EQ-5D-5L index baselines: {count(int((src == 'pre-procedure').sum()))} pre-procedure, "
            f"{count(int((src == 'discharge').sum()))} at discharge, {count(int((src == '').sum()))} none. "
            f"{count(derived.notes.get('prom_scored_here', 0))} administration(s) not yet scored by pdva.proms "
            "were scored at analysis time with its scoring functions."
        )
    return {
        "change": prom_change_rows(table),
        "completion": prom_completion_rows(table),
        "strata": prom_stratum_tables(table),
        "subgroup_timepoint": PROM_SUBGROUP_TIMEPOINT,
        "measures": [label for _, label, _ in d.PROM_MEASURES.values()],
        "baseline_rule": d.PROM_BASELINE_RULE,
        "note": note,
    }
