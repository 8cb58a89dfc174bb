"""NICE outcomes-audit workbook (xlsx): per patient, the IPG773 efficacy and safety outcomes as occurred /
not occurred / not known at stated time points, plus a summary sheet.

The layout follows the outcome list in the guidance (efficacy 3.2: perfusion improvement, wound healing, major
amputation, quality-of-life improvement; safety 3.3: pain, bleeding, infection, worsening perfusion, steal)
because the official NICE interventional procedure outcomes audit tool's columns are not public
(research/clinical.md §2.2). Patients are identified by registry ID only, never by NHS number.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from pdva.outcomes import definitions as d
from pdva.outcomes.derive import window_status
from pdva.outcomes.load import analyse
from pdva.registry import models as m

OCCURRED, NOT_OCCURRED, NOT_KNOWN = "occurred", "not occurred", "not known"
TIMEPOINTS = {"30 days": 30, "6 months": 183, "12 months": 365}
EFFICACY = ["Limb perfusion improvement", "Wound healing", "Major amputation", "Quality of life improvement"]
SAFETY = ["Pain", "Bleeding", "Infection", "Worsening perfusion", "Steal syndrome"]
SAFETY_KEYS = dict(
    zip(SAFETY, ["pain", "bleeding", "infection", "worsening_perfusion", "steal_syndrome"], strict=True)
)
LAYOUT_NOTE = (
    "Layout: one row per index procedure (each treated limb), one column per NICE IPG773 outcome and time point. "
    "It follows the outcome list of the guidance (section 3.2 efficacy, 3.3 safety) because the columns of NICE's "
    "official interventional procedure outcomes audit tool are not published; map these columns onto the tool "
    "if your trust uses it."
)


def _status(occurred: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.where(occurred, OCCURRED, np.where(known, NOT_OCCURRED, NOT_KNOWN))


def _visit_improvement(frames, t: pd.DataFrame, days: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Perfusion improvement: a follow-up Rutherford category lower than at baseline by ``days``."""
    v = frames.visits.merge(
        frames.procedures[["procedure_id", "procedure_date", "rutherford"]],
        on="procedure_id",
        suffixes=("", "_base"),
    )
    v = v[v["rutherford"].notna() & v["rutherford_base"].notna()]
    v = v[(v["visit_date"] - v["procedure_date"]).dt.days.between(1, days)]
    better = v[v["rutherford"].astype(float) < v["rutherford_base"].astype(float)]["procedure_id"].unique()
    assessed = v["procedure_id"].unique()
    pid = t["procedure_id"]
    return pid.isin(better).to_numpy(), pid.isin(assessed).to_numpy()


def _qol_improvement(t: pd.DataFrame, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Quality-of-life improvement by ``days``: at the latest PROM time point due by then (3, 6 or 12 months)
    with a baseline pair, the EQ-5D-5L index or the VascuQoL-6 total is above baseline (pdva.outcomes PROM
    change; baseline rule in the statistical analysis plan)."""
    improved = np.zeros(len(t), dtype=bool)
    known = np.zeros(len(t), dtype=bool)
    for code, (_, target) in d.PROM_CHANGE_TIMEPOINTS.items():
        if target > days:
            continue
        changes = [t[f"prom_{m}_{code}_change"].to_numpy(dtype=float) for m in ("eq5d_index", "vq6_total")]
        has = np.logical_or.reduce([~np.isnan(c) for c in changes])
        better = np.logical_or.reduce([np.nan_to_num(c, nan=0.0) > 0 for c in changes])
        improved = np.where(has, better, improved)  # a later time point replaces an earlier one
        known |= has
    return improved & known, known


def outcome_grid(a) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    t = a.derived.table.sort_values(["procedure_date", "procedure_id"]).reset_index(drop=True)
    cols: dict[str, Any] = {}
    for tp, days in TIMEPOINTS.items():
        cols[f"Limb perfusion improvement | {tp}"] = _status(*_visit_improvement(a.frames, t, days))
        heal = t["healing_day"].to_numpy(dtype=float)
        occ, known = window_status(t, heal, days)
        wound = t["wound_at_baseline"].to_numpy(dtype=bool)
        cols[f"Wound healing | {tp}"] = np.where(wound, _status(occ, known), "no wound at baseline")
        cols[f"Major amputation | {tp}"] = _status(
            *window_status(t, t["amp_day"].to_numpy(dtype=float), days)
        )
        cols[f"Quality of life improvement | {tp}"] = _status(*_qol_improvement(t, days))
        for label, key in SAFETY_KEYS.items():
            cols[f"{label} | {tp}"] = _status(
                *window_status(t, t[f"ae_{key}_day"].to_numpy(dtype=float), days)
            )
    return pd.concat([t, pd.DataFrame(cols)], axis=1)


def build_workbook(site: m.Site, *, cutoff: dt.date | None = None) -> bytes:
    cutoff = cutoff or dt.date.today()
    a = analyse([site.id], cutoff, strata=["all"])
    grid = outcome_grid(a)
    procs = {
        p.pk: p
        for p in m.Procedure.objects.filter(pk__in=list(grid["procedure_id"])).select_related(
            "patient", "operator"
        )
    }
    outcome_cols = [c for c in grid.columns if " | " in c]
    wb = Workbook()
    about = wb.active
    about.title = "About"
    info = [
        ("NICE IPG773 outcomes audit: percutaneous deep venous arterialisation", ""),
        ("Site", f"{site.name} ({site.ods_code})"),
        ("Data cut-off", cutoff.isoformat()),
        ("Software version", a.provenance["software_version"]),
        ("Value sets", a.provenance["value_set_version"]),
        ("Reference tables", ", ".join(f"{k} {v}" for k, v in a.provenance["reference_tables"].items())),
        ("Definitions", a.provenance["definitions"]),
        ("Layout", LAYOUT_NOTE),
        ("Status values", "occurred / not occurred / not known (follow-up too short, or not assessed)"),
    ]
    for row in info:
        about.append(row)
    about["A1"].font = Font(bold=True, size=13)
    about.column_dimensions["A"].width = 22
    about.column_dimensions["B"].width = 110

    sheet = wb.create_sheet("Patients")
    header = [
        "Registry ID",
        "Age",
        "Sex",
        "Index limb",
        "Procedure date",
        "Operator",
        "Last follow-up",
        "Died",
        *outcome_cols,
    ]
    sheet.append(header)
    for _, r in grid.iterrows():
        p = procs.get(r["procedure_id"])
        last = (r["procedure_date"] + pd.Timedelta(days=float(r["end_day"]))).date()
        sheet.append(
            [
                p.patient.registry_id if p else "",
                p.age_at_procedure if p else None,
                r["sex"],
                p.index_limb if p else "",
                r["procedure_date"].date(),
                r["operator"],
                last,
                "yes" if r["dead"] else "no",
                *[str(r[c]) for c in outcome_cols],
            ]
        )
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE7F3")
    for cell in sheet[1]:
        cell.font, cell.fill = bold, fill
    for i in range(1, len(header) + 1):
        sheet.column_dimensions[get_column_letter(i)].width = 16 if i <= 8 else 24
    sheet.freeze_panes = "B2"

    summary = wb.create_sheet("Summary")
    summary.append(
        ["Outcome", "Type", "Time point", "Occurred", "Not occurred", "Not known", "% occurred (of known)"]
    )
    for cell in summary[1]:
        cell.font, cell.fill = bold, fill
    for col in outcome_cols:
        outcome, tp = col.split(" | ")
        counts = grid[col].value_counts()
        occ, no, unk = (int(counts.get(k, 0)) for k in (OCCURRED, NOT_OCCURRED, NOT_KNOWN))
        pct = round(100 * occ / (occ + no), 1) if occ + no else None
        summary.append([outcome, "efficacy" if outcome in EFFICACY else "safety", tp, occ, no, unk, pct])
    summary.column_dimensions["A"].width = 30
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
