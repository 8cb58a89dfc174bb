"""Small-number suppression for outputs that leave a site (pure pandas).

A count from 1 to 4 could identify a patient, so it is hidden, and so is every figure that would let it be
worked back (the estimate and its interval on the same row, and the complement n - events).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pdva.outcomes.definitions import SMALL_NUMBER_THRESHOLD

COUNT_COLUMNS = ("n", "n_risk", "events")


def is_small(x: object, threshold: int = SMALL_NUMBER_THRESHOLD) -> bool:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return v == v and 0 < v < threshold


def suppress_table(table: pd.DataFrame, threshold: int = SMALL_NUMBER_THRESHOLD) -> pd.DataFrame:
    """Copy of an endpoint table with small counts replaced by None and ``suppressed`` set on the row.

    Rates use patient-years as ``n_risk``: that column is not a head count and is left alone for them.
    """
    values = [c for c in ("estimate", "lower", "upper", "median") if c in table]
    out = table.copy().astype({c: object for c in (*COUNT_COLUMNS, *values)})
    flag = np.zeros(len(out), dtype=bool)
    rate = (out["kind"] == "rate").to_numpy() if "kind" in out else np.zeros(len(out), dtype=bool)
    for col in COUNT_COLUMNS:
        vals = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        small = (vals > 0) & (vals < threshold)
        if col == "n_risk":
            small &= ~rate
        out.loc[small, col] = None
        flag |= small
    n = pd.to_numeric(table["n"], errors="coerce").to_numpy(dtype=float)
    ev = pd.to_numeric(table["events"], errors="coerce").to_numpy(dtype=float)
    complement = n - ev
    comp_small = (complement > 0) & (complement < threshold) & ~rate
    comp_small &= (table["kind"] == "proportion").to_numpy() if "kind" in table else True
    out.loc[comp_small, "events"] = None
    flag |= comp_small
    for col in values:
        out.loc[flag, col] = None
    out["suppressed"] = flag
    return out


def suppress_count(x: int | float | None, threshold: int = SMALL_NUMBER_THRESHOLD) -> str:
    """Display form of one count: '<5' when small, else the number."""
    if x is None:
        return "-"
    return f"<{threshold}" if is_small(x, threshold) else f"{int(x)}"
