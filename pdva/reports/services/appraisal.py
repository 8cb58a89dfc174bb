"""Clinician appraisal report (NICE IPG773 1.2): one operator's cases and outcomes against the site and the
registry, with a learning-curve CUSUM and a VLAD chart."""

from __future__ import annotations

import datetime as dt
import inspect
from importlib import import_module
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings

from pdva import stats
from pdva.outcomes import definitions as d
from pdva.outcomes.derive import window_status
from pdva.outcomes.load import analyse
from pdva.registry import models as m
from pdva.reports import charts
from pdva.reports.services import common

COMPARE = [
    ("technical_success", "procedure"),
    ("male_pod_30", "30 days"),
    ("afs", "6 months"),
    ("afs", "12 months"),
    ("major_amputation", "12 months"),
    ("wound_healing", "6 months"),
    ("reintervention_unplanned", "12 months"),
]
ACCEPTABLE_FAILURE = 1 - d.PROMISE_II_AFS_6M  # 6-month amputation or death, PROMISE II
UNACCEPTABLE_FAILURE = 1 - d.PROMISE_II_AFS_GOAL  # failure rate at the performance goal


def risk_model():  # type: ignore[no-untyped-def]
    """The risk model named in settings.PDVA_RISK_MODEL ('module:function'), or None.

    Protocol: ``fn(rows, *, cutoff)`` maps rows of the derived table to predicted 6-month failure risks, as an
    array or as an object with ``.risk`` and ``.summary`` (see pdva.outcomes.risk, the built-in model).
    """
    path = getattr(settings, "PDVA_RISK_MODEL", "")
    if not path:
        return None
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def predicted_risks(model, rows: pd.DataFrame, cutoff: dt.date) -> tuple[np.ndarray, dict | None]:  # type: ignore[no-untyped-def]
    """(risks, model summary or None) from a configured model; ValueError if it cannot predict."""
    accepts_cutoff = "cutoff" in inspect.signature(model).parameters
    out = model(rows, cutoff=cutoff) if accepts_cutoff else model(rows)
    risk = np.asarray(getattr(out, "risk", out), dtype=float)
    if risk.shape != (len(rows),) or not np.all((risk > 0) & (risk < 1)):
        raise ValueError("the risk model must return one risk strictly between 0 and 1 per case")
    return risk, getattr(out, "summary", None)


def _value(table: pd.DataFrame, key: str, tp: str) -> str:
    hit = table[(table["stratum"] == "all") & (table["endpoint"] == key) & (table["timepoint"] == tp)]
    return common.fmt_value(hit.iloc[0]) if len(hit) else "-"


def learning_curve(t: pd.DataFrame, cutoff: dt.date | None = None) -> dict[str, Any]:
    t = t.sort_values(["procedure_date", "procedure_id"])
    death = t["death_day"].to_numpy(dtype=float)
    occurred, known = window_status(t, np.fmin(t["amp_day"].to_numpy(dtype=float), death), 183)
    y = occurred[known].astype(int)
    if len(y) == 0:
        return {"available": False, "reason": "No case has reached 6 months of follow-up yet."}
    model = risk_model()
    summary, fallback = None, ""
    risk = None
    if model is not None:
        try:
            risk, summary = predicted_risks(model, t[known], cutoff or dt.date.today())
        except ValueError as exc:  # e.g. too few registry cases to fit the model
            fallback = f"The configured risk model ({settings.PDVA_RISK_MODEL}) could not be used: {exc}. "
    if risk is not None:
        h = stats.cusum_threshold(risk, odds_ratio=2.0, n_cases=len(y), n_sim=2000, seed=1)
        res = stats.ra_cusum(risk, y, odds_ratio=2.0, threshold=h)
        chart, method = (
            res.upper,
            "Risk-adjusted CUSUM (Steiner 2000): each case weighted by its predicted 6-month risk of amputation "
            f"or death from the configured risk model ({settings.PDVA_RISK_MODEL}); the chart tests an odds "
            "ratio of 2 against 1; threshold h for a 5% false-alarm probability over the series.",
        )
        kind = "risk-adjusted"
    else:
        risk = np.full(len(y), ACCEPTABLE_FAILURE)
        odds = (UNACCEPTABLE_FAILURE / (1 - UNACCEPTABLE_FAILURE)) / (
            ACCEPTABLE_FAILURE / (1 - ACCEPTABLE_FAILURE)
        )
        h = stats.cusum_threshold(risk, odds_ratio=odds, n_cases=max(len(y), 10), n_sim=2000, seed=1)
        chart = stats.bernoulli_cusum(y, p0=ACCEPTABLE_FAILURE, p1=UNACCEPTABLE_FAILURE, threshold=h)
        method = fallback + (
            f"Bernoulli CUSUM (no risk model configured): acceptable 6-month failure (amputation or death) "
            f"rate {100 * ACCEPTABLE_FAILURE:.1f}% (PROMISE II) against {100 * UNACCEPTABLE_FAILURE:.0f}% "
            f"(the PROMISE II performance goal); threshold h for a 5% false-alarm probability over the series."
        )
        kind = "bernoulli"
    expected = float(risk.sum())
    v = stats.vlad(risk, y)
    return {
        "available": True,
        "kind": kind,
        "risk_model": summary,
        "observed": int(y.sum()),
        "expected": f"{expected:.1f}",
        "o_e": f"{y.sum() / expected:.2f}" if expected > 0 else "-",
        "method": method,
        "n": len(y),
        "failures": int(y.sum()),
        "signals": len(chart.signals),
        "threshold": f"{chart.threshold:.2f}",
        "cusum_svg": charts.cusum_chart(
            chart.values,
            chart.threshold,
            chart.signals,
            title=(
                "Learning curve: risk-adjusted CUSUM of 6-month amputation or death"
                if kind == "risk-adjusted"
                else "Learning curve: Bernoulli CUSUM of 6-month amputation or death"
            ),
        ),
        "vlad_svg": charts.vlad_chart(v, title="VLAD: expected minus observed 6-month failures"),
        "vlad_end": f"{v[-1]:+.1f}",
    }


def appraisal_report(operator: m.Operator, *, cutoff: dt.date | None = None) -> dict[str, Any]:
    cutoff = cutoff or dt.date.today()
    own = analyse([operator.site_id], cutoff, operator_id=operator.pk, strata=["all"])
    site = analyse([operator.site_id], cutoff, strata=["all"])
    national = analyse(None, cutoff, strata=["all"])
    op_t, site_t = common.prepare(own.table, False), common.prepare(site.table, False)
    nat_t = common.prepare(national.table, True)
    comparison = []
    for key, tp in COMPARE:
        label = (
            d.endpoint(key).label
            if key not in ("technical_success", "male_pod_30")
            else {"technical_success": "Technical success", "male_pod_30": "MALE or perioperative death"}[key]
        )
        comparison.append(
            {
                "label": label,
                "timepoint": tp,
                "operator": _value(op_t, key, tp),
                "site": _value(site_t, key, tp),
                "national": _value(nat_t, key, tp),
            }
        )
    t = own.derived.table.sort_values(["procedure_date", "procedure_id"])
    regs = dict(
        m.Procedure.objects.filter(pk__in=list(t["procedure_id"])).values_list("pk", "patient__registry_id")
    )
    cases = []
    for r in t.itertuples():
        amp_or_death = np.fmin(r.amp_day, r.death_day)
        six = (
            "amputation or death"
            if amp_or_death <= 183
            else ("alive, limb intact" if r.end_day >= 183 else "not yet known")
        )
        cases.append(
            {
                "date": r.procedure_date.date(),
                "registry_id": regs.get(r.procedure_id, ""),
                "technical_success": {1.0: "yes", 0.0: "no"}.get(r.technical_success, "not known"),
                "six_months": six,
                "follow_up_days": int(r.end_day),
            }
        )
    return {
        "operator": operator,
        "site": operator.site,
        "cutoff": cutoff,
        "n_cases": len(t),
        "comparison": comparison,
        "cases": cases,
        "learning": learning_curve(own.derived.table, cutoff),
        "provenance": own.provenance,
        "sap": common.sap_context(),
        "published": common.published_rows(),
    }
