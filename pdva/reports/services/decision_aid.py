"""Patient decision-support sheet: what happens to 100 people like this patient, in plain language, from this
site's results and from published studies side by side."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from pdva.outcomes.load import analyse
from pdva.registry import models as m
from pdva.reports import charts
from pdva.reports.services.common import is_missing

MIN_GROUP = 10  # fewer people than this: say so rather than show a figure
OUTCOMES = [
    # key, time point, transform, plain label, colour, published comparator (label, per 100)
    (
        "afs",
        "12 months",
        "est",
        "are alive and still have their leg",
        "#007f3b",
        ("PROMISE II trial, 6 months", 66),
    ),
    (
        "major_amputation",
        "12 months",
        "one_minus",
        "still have their leg (no major amputation)",
        "#005eb8",
        ("PROMISE II trial, 6 months", 76),
    ),
    (
        "wound_healing",
        "6 months",
        "est",
        "have their wound completely healed",
        "#330072",
        ("PROMISE II trial, 6 months", 25),
    ),
    (
        "reintervention_unplanned",
        "12 months",
        "est",
        "need another unplanned procedure on the leg",
        "#d5281b",
        ("Meta-analysis of 5 studies (any reintervention)", 47),
    ),
]


def _words(lo: float, hi: float) -> str:
    width = hi - lo
    if width > 40:
        return "We are very unsure about this number because few people have been treated so far."
    if width > 20:
        return "We are fairly unsure about this number; the true figure could be quite different."
    return "This number is reasonably reliable, but every person is different."


def _group_figures(table: pd.DataFrame, stratum: str, group: str) -> list[dict[str, Any]]:
    out = []
    sub = table[(table["stratum"] == stratum) & (table["group"] == group)]
    for key, tp, how, text, colour, (pub_label, pub_value) in OUTCOMES:
        hit = sub[(sub["endpoint"] == key) & (sub["timepoint"] == tp)]
        item = {
            "text": text,
            "timepoint": tp,
            "published_label": pub_label,
            "published": pub_value,
            "published_svg": charts.icon_array(
                pub_value, label=f"Published: {pub_value} in 100", colour="#768692"
            ),
        }
        # No confidence interval (e.g. every patient had the event) means no honest figure to show either.
        if (
            hit.empty
            or any(is_missing(hit.iloc[0][col]) for col in ("estimate", "lower", "upper"))
            or hit.iloc[0]["n"] < MIN_GROUP
        ):
            item.update(
                {
                    "available": False,
                    "why": "Too few people have been treated or followed up here yet to give a figure.",
                }
            )
        else:
            r = hit.iloc[0]
            est, lo, hi = float(r["estimate"]), float(r["lower"]), float(r["upper"])
            if how == "one_minus":
                est, lo, hi = 1 - est, 1 - hi, 1 - lo
            per100 = round(100 * est)
            item.update(
                {
                    "available": True,
                    "per100": per100,
                    "low": round(100 * lo),
                    "high": round(100 * hi),
                    "n": int(r["n"]),
                    "uncertainty": _words(100 * lo, 100 * hi),
                    "svg": charts.icon_array(per100, label=f"Here: {per100} in 100", colour=colour),
                }
            )
        out.append(item)
    return out


def decision_aid(site: m.Site, *, cutoff: dt.date | None = None, by_dialysis: bool = False) -> dict[str, Any]:
    cutoff = cutoff or dt.date.today()
    a = analyse([site.id], cutoff, strata=["all", "dialysis"])
    groups = [("all", "All", "Everyone treated here")]
    if by_dialysis:
        groups = [
            ("dialysis", "Dialysis", "People on kidney dialysis"),
            ("dialysis", "No dialysis", "People not on kidney dialysis"),
        ]
    return {
        "site": site,
        "cutoff": cutoff,
        "sections": [{"title": title, "figures": _group_figures(a.table, s, g)} for s, g, title in groups],
        "provenance": a.provenance,
        "n_procedures": len(a.derived.table),
    }
