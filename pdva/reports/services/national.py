"""National benchmarking: funnel plots of sites, outliers, over-dispersion and the registry-wide performance-goal
test against PROMISE II. Sites appear only as aggregates; small counts are suppressed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pdva import stats
from pdva.outcomes import definitions as d
from pdva.outcomes.derive import km_input, window_status
from pdva.outcomes.load import Analysis, analyse
from pdva.outcomes.suppress import is_small, suppress_count
from pdva.reports import charts
from pdva.reports.services import common


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    definition: str


INDICATORS = (
    Indicator(
        "afs_6m",
        "6-month amputation-free survival",
        "Alive without major index-limb amputation at 183 days, among procedures whose 6-month status is known.",
    ),
    Indicator(
        "technical_success", "Technical success", "Technical success among procedures where it is known."
    ),
    Indicator(
        "mae_30d",
        "30-day major adverse events",
        "MALE, death or MACE within 30 days, among procedures whose 30-day status is known.",
    ),
    Indicator(
        "followup_12m",
        "12-month follow-up compliance",
        "A follow-up contact 9-21 months after the procedure, among those alive and due at 21 months.",
    ),
)


def indicator_counts(t: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per site: x (numerator) and n (denominator) for each funnel indicator."""
    death = t["death_day"].to_numpy(dtype=float)
    amp_or_death = np.fmin(t["amp_day"].to_numpy(dtype=float), death)
    occ6, known6 = window_status(t, amp_or_death, 183)
    ts = t["technical_success"].to_numpy(dtype=float)
    mae = np.fmin(np.fmin(t["male_day"].to_numpy(dtype=float), death), t["ae_mace_day"].to_numpy(dtype=float))
    occ30, known30 = window_status(t, mae, 30)
    parts = {
        "afs_6m": (known6 & ~occ6, known6),
        "technical_success": (ts == 1, ~np.isnan(ts)),
        "mae_30d": (occ30, known30),
        "followup_12m": (t["fu12_done"].to_numpy(dtype=bool), t["fu12_due"].to_numpy(dtype=bool)),
    }
    out = {}
    for key, (x, n) in parts.items():
        df = pd.DataFrame({"site": t["site"].to_numpy(), "x": (x & n).astype(int), "n": n.astype(int)})
        out[key] = df.groupby("site", as_index=False).sum()
    return out


def _small(x: int, n: int) -> bool:
    return n < d.SMALL_NUMBER_THRESHOLD or is_small(x) or is_small(n - x)


def funnel(
    ind: Indicator, counts: pd.DataFrame, *, highlight: str | None = None, with_chart: bool = True
) -> dict:
    counts = counts[counts["n"] > 0].reset_index(drop=True)
    total_x, total_n = int(counts["x"].sum()), int(counts["n"].sum())
    result: dict[str, Any] = {
        "key": ind.key,
        "label": ind.label,
        "definition": ind.definition,
        "n_sites": len(counts),
        "total_n": suppress_count(total_n),
        "rows": [],
        "svg": "",
        "note": "",
    }
    if total_n == 0 or len(counts) == 0:
        result["note"] = "No site has any procedure in the denominator yet."
        return result
    target = total_x / total_n
    result["target"] = f"{100 * target:.1f}%"
    if not 0.0 < target < 1.0:
        result["note"] = (
            f"Every site is at {100 * target:.0f}%: no funnel can be drawn around a target of 0 or 1."
        )
        return result
    flags = stats.funnel_flags(counts["x"], counts["n"], target, method="exact_binomial")
    try:
        od = stats.overdispersion(counts["x"], counts["n"], target, method="normal")
        result["overdispersion"] = {
            "phi": f"{od.phi:.2f}",
            "tau2": f"{od.tau2:.4f}",
            "p": f"{od.p_value:.3f}",
            "text": (
                "Sites vary more than chance alone predicts (over-dispersion): limits this narrow flag too "
                "many sites; read flags with caution."
                if od.overdispersed
                else "No evidence of over-dispersion: the exact binomial limits are appropriate."
            ),
        }
    except ValueError as exc:
        result["overdispersion"] = {"phi": "-", "tau2": "-", "p": "-", "text": f"Not estimable: {exc}"}
    grid = np.unique(np.linspace(1, max(int(counts["n"].max()) * 1.1, 10), 200).round().astype(int))
    limits = stats.funnel_limits(target, grid, method="exact_binomial")
    shown = []
    for r, f in zip(counts.itertuples(), flags.itertuples(), strict=True):
        small = _small(int(r.x), int(r.n))
        result["rows"].append(
            {
                "site": r.site,
                "x": suppress_count(r.x) if small else str(r.x),
                "n": suppress_count(r.n) if small else str(r.n),
                "value": "suppressed" if small else f"{100 * r.x / r.n:.1f}%",
                "flag_95": f.flag_95,
                "flag_998": f.flag_998,
                "outlier": f.flag_998 != "within",
                "alert": f.flag_95 != "within",
            }
        )
        if not small:
            shown.append({"site": r.site, "n": r.n, "value": r.x / r.n, "flagged": f.flag_95 != "within"})
    hidden = len(counts) - len(shown)
    if hidden:
        result["note"] = (
            f"{hidden} site(s) not plotted because a count is under {d.SMALL_NUMBER_THRESHOLD}; they "
            "still count towards the registry target and the over-dispersion check."
        )
    if with_chart:
        result["svg"] = charts.funnel_chart(
            pd.DataFrame(shown, columns=["site", "n", "value", "flagged"]),
            limits,
            title=ind.label,
            target=target,
            highlight=highlight,
        )
    return result


FLAG_MARK = {"high": "▲", "low": "▼"}


def site_indicator_rows(funnels: list[dict]) -> list[dict]:
    """One row per site with every indicator (value, denominator, flag): one table instead of one per funnel,
    which keeps the national PDF short and quick to lay out."""
    sites: dict[str, dict] = {}
    for i, f in enumerate(funnels):
        for r in f["rows"]:
            row = sites.setdefault(r["site"], {"site": r["site"], "cells": [""] * len(funnels)})
            flag = r["flag_998"] if r["flag_998"] != "within" else r["flag_95"]
            mark = FLAG_MARK.get(flag, "")
            level = "99.8%" if r["flag_998"] != "within" else "95%"
            row["cells"][i] = f"{r['value']} of {r['n']}" + (f" {mark} {flag} ({level})" if mark else "")
    return [sites[k] for k in sorted(sites)]


def performance_goal_tests(a: Analysis) -> dict:
    t = a.derived.table
    if len(t) == 0:
        return {"available": False}
    time, event, _ = km_input(t, "afs")
    km = stats.kaplan_meier(time, event)
    out: dict[str, Any] = {
        "available": True,
        "goal": f"{100 * d.PROMISE_II_AFS_GOAL:.0f}%",
        "promise": f"{100 * d.PROMISE_II_AFS_6M:.1f}%",
    }
    try:
        pg = stats.performance_goal(km, 183, d.PROMISE_II_AFS_GOAL)
        out["freq"] = {
            "estimate": f"{100 * pg.estimate:.1f}%",
            "lower": f"{100 * pg.lower:.1f}%",
            "p": f"{pg.p_value:.4f}",
            "passed": pg.passed,
            "n_risk": suppress_count(pg.n_risk),
        }
    except ValueError as exc:
        out["freq"] = {"error": str(exc)}
    death = t["death_day"].to_numpy(dtype=float)
    occ, known = window_status(t, np.fmin(t["amp_day"].to_numpy(dtype=float), death), 183)
    n, x = int(known.sum()), int((known & ~occ).sum())
    if n:
        b = stats.performance_goal_bayes(x, n, d.PROMISE_II_AFS_GOAL, threshold=d.PROMISE_II_BAYES_THRESHOLD)
        out["bayes"] = {
            "x": suppress_count(x),
            "n": suppress_count(n),
            "mean": f"{100 * b.posterior_mean:.1f}%",
            "probability": f"{b.probability:.3f}",
            "threshold": f"{b.threshold:.3f}",
            "passed": b.passed,
        }
    return out


def case_mix(t: pd.DataFrame) -> list[dict]:
    rows = []
    for site, g in t.groupby("site"):
        n = len(g)

        def share(mask: pd.Series, n: int = n) -> str:
            k = int(mask.sum())
            return f"{suppress_count(k)}" if is_small(k) or is_small(n - k) else f"{100 * k / n:.0f}%"

        rows.append(
            {
                "site": site,
                "n": suppress_count(n),
                "dialysis": share(g["dialysis"] == "Dialysis"),
                "r6": share(g["rutherford"] == "R6"),
                "wifi4": share(g["wifi_stage"].isin(["Stage 4", "Stage 5"])),
                "dedicated": share(g["technique"] == "dedicated_system"),
            }
        )
    return rows


def national_report(*, cutoff: dt.date | None = None, with_charts: bool = True) -> dict[str, Any]:
    cutoff = cutoff or dt.date.today()
    a = analyse(None, cutoff, strata=NATIONAL_STRATA)
    followup = common.followup_compliance(None, cutoff, a.derived.table)
    return national_context(a, with_charts=with_charts, followup=followup)


NATIONAL_STRATA = ["all", "site", "dialysis", "technique", *d.EQUITY_STRATA]


def national_context(
    a: Analysis, *, with_charts: bool = True, followup: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Template context from an analysis (database-free, so the benchmark can time it on synthetic data)."""
    table = common.prepare(a.table, suppress=True)
    counts = indicator_counts(a.derived.table)
    if followup is not None:
        counts["followup_12m"] = followup[["site", "x", "n"]]
    funnels = [funnel(ind, counts[ind.key], with_chart=with_charts) for ind in INDICATORS]
    outliers = [{"indicator": f["label"], **row} for f in funnels for row in f["rows"] if row["alert"]]
    site_rows = site_indicator_rows(funnels)
    return {
        "cutoff": a.cutoff,
        "n_sites": a.derived.table["site"].nunique(),
        "n_procedures": suppress_count(len(a.derived.table)),
        "headline": common.headline_rows(table),
        "strata": common.stratum_tables(table, [s for s in NATIONAL_STRATA if s != "all"]),
        "stratum_columns": [c[2] for c in common.STRATUM_COLUMNS],
        "funnels": funnels,
        "site_indicators": site_rows,
        "outliers": outliers,
        "goal": performance_goal_tests(a),
        "case_mix": case_mix(a.derived.table),
        "case_mix_statement": d.CASE_MIX_STATEMENT,
        "published": common.published_rows(),
        "provenance": a.provenance,
        "sap": common.sap_context(),
        "suppressed": True,
        "threshold": d.SMALL_NUMBER_THRESHOLD,
        "analysis": a,
    }
