"""The site governance dashboard and quarterly governance report (one context for the page and the PDF)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from pdva.outcomes import definitions as d
from pdva.outcomes.endpoints import curve, numbers_at_risk
from pdva.outcomes.load import Analysis, analyse
from pdva.outcomes.suppress import suppress_count
from pdva.registry import choices as c
from pdva.registry import models as m
from pdva.reports import charts
from pdva.reports.services import common

MDT_ADJUDICATION = ("mdt", "two_specialists", "independent_core_lab")
CHART_DAYS = [0, 91, 183, 365, 730]


def _pct(x: int, n: int, suppress: bool) -> dict:
    if n == 0:
        return {"x": "-", "n": "0", "value": "no procedures"}
    if suppress and (
        0 < x < d.SMALL_NUMBER_THRESHOLD
        or 0 < n - x < d.SMALL_NUMBER_THRESHOLD
        or n < d.SMALL_NUMBER_THRESHOLD
    ):
        return {"x": suppress_count(x), "n": suppress_count(n), "value": "suppressed (small numbers)"}
    return {"x": str(x), "n": str(n), "value": f"{100 * x / n:.0f}%"}


def governance_compliance(site: m.Site, procedures: list[m.Procedure], suppress: bool) -> dict:
    gov = getattr(site, "governance", None)
    consents = {
        cg.procedure_id: cg for cg in m.ConsentGovernance.objects.alive().filter(procedure__in=procedures)
    }
    baselines = {b.procedure_id: b for b in m.Baseline.objects.alive().filter(procedure__in=procedures)}
    n = len(procedures)

    def count(pred) -> int:  # type: ignore[no-untyped-def]
        return sum(1 for p in procedures if pred(p))

    items = [
        (
            "NICE information for the public given",
            count(lambda p: getattr(consents.get(p.id), "nice_information_given", "") == "yes"),
        ),
        (
            "Shared decision making documented",
            count(lambda p: getattr(consents.get(p.id), "shared_decision_making_documented", "") == "yes"),
        ),
        (
            "Uncertainties discussed",
            count(lambda p: getattr(consents.get(p.id), "uncertainties_discussed", "") == "yes"),
        ),
        ("Consent date recorded", count(lambda p: bool(getattr(consents.get(p.id), "consent_date", None)))),
        (
            "'No-option' status adjudicated by an MDT or two specialists",
            count(lambda p: getattr(baselines.get(p.id), "no_option_adjudication", "") in MDT_ADJUDICATION),
        ),
        ("MDT review date recorded", count(lambda p: bool(getattr(consents.get(p.id), "mdt_date", None)))),
        (
            "Registry consent or lawful basis recorded",
            count(
                lambda p: (
                    getattr(consents.get(p.id), "registry_consent", c.NOT_KNOWN)
                    in ("consented", "lacks_capacity_consultee", "s251_or_other_basis")
                )
            ),
        ),
    ]
    return {
        "lead_informed": gov.governance_lead_informed_date if gov else None,
        "local_approval": gov.local_approval_date if gov else None,
        "lead_name": gov.governance_lead_name if gov else "",
        "arrangements_complete": bool(gov and gov.arrangements_complete),
        "items": [{"label": label, **_pct(x, n, suppress)} for label, x in items],
    }


def data_completeness(procedures: list[m.Procedure], suppress: bool) -> list[dict]:
    baselines = {b.procedure_id: b for b in m.Baseline.objects.alive().filter(procedure__in=procedures)}
    n = len(procedures)

    def have(pred) -> int:  # type: ignore[no-untyped-def]
        return sum(1 for p in procedures if pred(p))

    checks = [
        ("Baseline record", have(lambda p: p.id in baselines)),
        ("Rutherford category", have(lambda p: getattr(baselines.get(p.id), "rutherford", None) is not None)),
        ("WIfI stage", have(lambda p: getattr(baselines.get(p.id), "wifi_stage", None) is not None)),
        (
            "Dialysis status known",
            have(lambda p: getattr(baselines.get(p.id), "dialysis_dependent", c.NOT_KNOWN) != c.NOT_KNOWN),
        ),
        ("Technical success known", have(lambda p: p.technical_success != c.NOT_KNOWN)),
        ("Technique family known", have(lambda p: p.technique_family != c.NOT_KNOWN)),
        ("Discharge date", have(lambda p: p.discharge_date is not None)),
        ("Case signed off", have(lambda p: p.signed_off_at is not None)),
    ]
    return [{"label": label, **_pct(x, n, suppress)} for label, x in checks]


def open_adverse_events(site_ids: list[int]) -> list[dict]:
    """Open (not resolved) serious or device-related adverse events with their MHRA reporting status."""
    events = (
        m.AdverseEvent.objects.alive()
        .for_sites(site_ids)
        .exclude(outcome__in=["resolved", "resolved_sequelae", "fatal"])
        .select_related("procedure__patient")
        .order_by("onset_date")
    )
    rows = []
    for ae in events:
        if not (ae.serious == "yes" or ae.device_related):
            continue
        rows.append(
            {
                "registry_id": ae.procedure.patient.registry_id,
                "category": ae.get_category_display(),
                "onset": ae.onset_date,
                "serious": ae.get_serious_display(),
                "device": ae.get_related_to_device_display(),
                "mhra": ae.get_mhra_reported_display(),
                "mhra_reference": ae.mhra_reference,
                "needs_report": ae.needs_mhra_report and ae.mhra_reported != "yes",
            }
        )
    return rows


def at_risk_rows(derived, key: str, suppress: bool) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    ar = numbers_at_risk(derived, key, CHART_DAYS)
    ar["n_risk_display"] = [suppress_count(x) if suppress else str(int(x)) for x in ar["n_risk"]]
    return ar


def curve_charts(a: Analysis, suppress: bool) -> list[dict]:
    out = []
    specs = [
        ("afs", "Amputation-free survival", "Probability", 1.0),
        ("survival", "Overall survival", "Probability", 1.0),
        ("major_amputation", "Major amputation (death as competing risk)", "Cumulative incidence", 0.0),
        (
            "wound_healing",
            "Complete wound healing (amputation and death competing)",
            "Cumulative incidence",
            0.0,
        ),
    ]
    for key, title, ylabel, start in specs:
        cv = curve(a.derived, key)
        if cv.empty:
            continue
        if suppress and len(a.derived.table) < d.SMALL_NUMBER_THRESHOLD:
            continue
        out.append(
            {
                "key": key,
                "title": title,
                "svg": charts.step_curve_chart(
                    cv,
                    title=title,
                    ylabel=ylabel,
                    start=start,
                    at_risk=at_risk_rows(a.derived, key, suppress),
                    max_days=730,
                ),
            }
        )
    # AFS by dialysis dependence: the subgroup PROMISE II reports.
    cv = curve(a.derived, "afs", "dialysis")
    sizes = a.derived.table["dialysis"].value_counts()
    hidden = {g for g, n in sizes.items() if suppress and n < d.SMALL_NUMBER_THRESHOLD}
    if not cv.empty:
        out.append(
            {
                "key": "afs_dialysis",
                "title": "Amputation-free survival by dialysis dependence",
                "svg": charts.step_curve_chart(
                    cv,
                    title="AFS by dialysis dependence",
                    ylabel="Probability",
                    max_days=730,
                    hidden_groups=hidden,
                ),
            }
        )
    return out


def site_report(
    site: m.Site,
    *,
    cutoff: dt.date | None = None,
    suppress: bool = False,
    period: str | None = None,
    with_charts: bool = True,
) -> dict[str, Any]:
    today = dt.date.today()
    start, end, label = common.parse_period(period) if period else (None, None, None)
    cutoff = cutoff or (min(end, today) if end else today)
    a = analyse([site.id], cutoff)
    table = common.prepare(a.table, suppress)
    procedures = list(
        m.Procedure.objects.alive()
        .for_sites([site.id])
        .filter(procedure_date__lte=cutoff)
        .select_related("patient")
    )
    in_period = sum(1 for p in procedures if start <= p.procedure_date <= end) if start and end else None
    fu = common.followup_compliance([site.id], cutoff, a.derived.table)
    fu_x, fu_n = int(fu["x"].sum()), int(fu["n"].sum())
    shown = _pct(fu_x, fu_n, suppress)
    followup = {
        "x": fu_x,
        "n": fu_n,
        "text": (
            f"{shown['x']} of {shown['n']} procedures due had a follow-up contact 9-21 months after the "
            f"procedure ({shown['value']}; source: {fu['source'].iloc[0] if len(fu) else 'none'})."
            if fu_n
            else "No procedure has reached the end of its 12-month follow-up window yet."
        ),
    }
    return {
        "followup": followup,
        "site": site,
        "period": label,
        "period_start": start,
        "period_end": end,
        "procedures_in_period": in_period,
        "cutoff": cutoff,
        "suppressed": suppress,
        "n_procedures": len(procedures),
        "n_patients": len({p.patient_id for p in procedures}),
        "headline": common.headline_rows(table),
        "strata": common.stratum_tables(table),
        "safety": common.safety_rows(table),
        "safety_windows": list(d.SAFETY_WINDOWS),
        "proms": common.prom_context(table, a.derived, suppress),
        "charts": curve_charts(a, suppress) if with_charts else [],
        "governance": governance_compliance(site, procedures, suppress),
        "completeness": data_completeness(procedures, suppress),
        "open_events": [] if suppress else open_adverse_events([site.id]),
        "issues": [] if suppress else a.derived.issues.to_dict("records"),
        "n_issues": len(a.derived.issues),
        "published": common.published_rows(),
        "provenance": a.provenance,
        "small_numbers": _small_number_note(a),
        "sap": common.sap_context(),
        "stratum_columns": [c[2] for c in common.STRATUM_COLUMNS],
        "analysis": a,
    }


def _small_number_note(a: Analysis) -> str:
    n = len(a.derived.table)
    if n < 30:
        return (
            f"Only {n} procedures: intervals are wide and single events move percentages a lot. "
            "Read the counts, not just the percentages."
        )
    return ""


def afs_six_month_known(a: Analysis) -> tuple[int, int]:
    """(event-free, known) at 6 months among procedures with complete 6-month status."""
    from pdva.outcomes.derive import window_status

    t = a.derived.table
    ev = np.fmin(t["amp_day"].to_numpy(dtype=float), t["death_day"].to_numpy(dtype=float))
    occurred, known = window_status(t, ev, 183)
    return int((known & ~occurred).sum()), int(known.sum())
