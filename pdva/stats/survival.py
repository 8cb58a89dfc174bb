"""Kaplan–Meier estimator with Greenwood variance, R-compatible confidence intervals, landmark summaries
and medians; stratified without a Python loop per group.

Definitions (R survival 3.8-6; research/stats.md §1.1):

- n_j = #{T ≥ t_j} (with delayed entry also entry < t_j); censorings tied with an event are at risk.
- Ŝ(t) = ∏_{t_j ≤ t} (1 − d_j/n_j); Greenwood σ²(t) = Σ d_j / (n_j (n_j − d_j)) is Var(log Ŝ);
  ``std_err`` is reported on the survival scale, Ŝ·σ (as R ``summary()`` prints it).
- ``at(times)`` follows R ``summary(fit, times=)``: n_risk = #{T ≥ t}, n_event/n_censor count (previous t, t].
- Median: R ``quantile.survfit`` rules (midpoint of a flat stretch at exactly 0.5; the CI limits are where the
  lower / upper pointwise bands cross 0.5, so they follow ``conf_type``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from . import _groups as G
from ._confint import CONF_TYPES, transform_ci
from ._validate import FloatArray, IntArray, as_event, as_float, as_times, choice, conf_z, same_length

_TOL = float(np.sqrt(np.finfo(float).eps))  # R quantile.survfit tolerance


class MedianCI(NamedTuple):
    """Median survival time and its confidence limits (NaN where not reached)."""

    median: float
    lower: float
    upper: float


def as_query_times(times: Any) -> FloatArray:
    """Sorted distinct finite query times (R sorts the ``times=`` argument)."""
    t = as_float(times, "times")
    return np.unique(t)


@dataclass(frozen=True, eq=False)
class _KMCore:
    """Arrays of a (possibly stratified) Kaplan–Meier fit; rows are event times sorted by (group, time)."""

    groups: G.Groups
    cells: G.Cells
    entry_cells: G.Cells | None
    row_cell: IntArray
    row_group: IntArray
    row_bounds: IntArray
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray
    n_censor: IntArray
    survival: FloatArray
    sigma: FloatArray  # sd of log S (sqrt Greenwood); inf where S = 0
    lower: FloatArray
    upper: FloatArray
    conf_type: str
    conf_level: float
    z: float

    # ---- construction -------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        time: Any,
        event: Any,
        groups: G.GroupsLike,
        entry: Any,
        conf_type: str,
        conf_level: float,
        *,
        grouped: bool,
    ) -> _KMCore:
        choice(conf_type, "conf_type", CONF_TYPES)
        z = conf_z(conf_level)
        t = as_times(time, "time")
        e = as_event(event, "event")
        ent = None if entry is None else as_times(entry, "entry")
        n = same_length(time=t, event=e, entry=ent)
        groups = G.factorize_groups(groups, n) if grouped else G.single_group(n)
        if ent is not None:
            bad = ent >= t
            if bad.any():
                raise ValueError(
                    f"entry must be earlier than time for every subject (left truncation); "
                    f"{int(bad.sum())} row(s) have entry >= time, first at position {int(np.flatnonzero(bad)[0])}"
                )

        cells = G.sort_cells(t, groups.codes, groups.n_groups)
        if cells.order is not None and cells.counts is None:
            # no ties: cell i is sorted row i
            row_cell = np.flatnonzero(e[cells.order])
            d = np.ones(row_cell.size, dtype=np.int64)
        else:
            cell_event = cells.cell_sum(e)
            row_cell = np.flatnonzero(cell_event > 0)
            d = cell_event[row_cell]
        row_group = cells.group_of(row_cell)
        rtime = cells.value[row_cell]
        # at risk: rows of the group at or after this cell
        nr = cells.rows_before(cells.bounds[row_group + 1]) - cells.rows_before(row_cell)
        entry_cells = None
        if ent is not None:
            entry_cells = G.sort_cells(ent, groups.codes, groups.n_groups)
            nr = nr - entry_cells.rows_ge(row_group, rtime)
        # censored in [t_j, t_{j+1}) so that n_risk[j+1] = n_risk[j] - n_event[j] - n_censor[j]:
        # every row in the cells from this event cell up to the next one, except this cell's events
        nxt = np.minimum(np.append(row_cell[1:], cells.n_cells), cells.bounds[row_group + 1])
        ncens = cells.rows_before(nxt) - cells.rows_before(row_cell) - d

        starts = G.segment_starts(row_group)
        surv, sigma = _km_product(nr, d, starts)
        lower, upper = transform_ci(surv, sigma, z, conf_type)
        row_bounds = np.searchsorted(row_group, np.arange(groups.n_groups + 1), side="left")
        return cls(
            groups=groups,
            cells=cells,
            entry_cells=entry_cells,
            row_cell=row_cell,
            row_group=row_group,
            row_bounds=row_bounds,
            time=rtime,
            n_risk=nr,
            n_event=d,
            n_censor=ncens,
            survival=surv,
            sigma=sigma,
            lower=lower,
            upper=upper,
            conf_type=conf_type,
            conf_level=float(conf_level),
            z=z,
        )

    # ---- outputs ------------------------------------------------------------------------------------
    @property
    def std_err(self) -> FloatArray:
        with np.errstate(invalid="ignore"):
            return self.survival * self.sigma  # NaN where S = 0 (0 * inf), as R

    def table_arrays(self) -> dict[str, Any]:
        # copies: the DataFrame is built without copying and must not alias the fit's arrays
        return {
            "time": self.time.copy(),
            "n_risk": self.n_risk.copy(),
            "n_event": self.n_event.copy(),
            "n_censor": self.n_censor.copy(),
            "survival": self.survival.copy(),
            "std_err": self.std_err,
            "lower": self.lower.copy(),
            "upper": self.upper.copy(),
        }

    def at_arrays(self, times: Any, extend: bool) -> tuple[IntArray, dict[str, Any]]:
        q = as_query_times(times)
        ng, m = self.groups.n_groups, q.size
        gq = np.repeat(np.arange(ng, dtype=np.int64), m)
        tq = np.tile(q, ng)
        cells = self.cells
        n_risk = cells.rows_ge(gq, tq)
        if self.entry_cells is not None:
            n_risk = n_risk - self.entry_cells.rows_ge(gq, tq)
        upto = cells.locate(gq, tq, "right")  # cells with value <= t in group g end here
        j = np.searchsorted(self.row_cell, upto, side="left") - 1  # last event row at or before t
        # cumulative events (prefix sums over event rows) and rows up to t within the group
        ev = self.cum_event[j + 1] - self.cum_event[self.row_bounds[gq]]
        rows = cells.rows_before(upto) - cells.rows_before(cells.bounds[gq])
        n_event = _within_group_diff(ev, m)
        n_censor = _within_group_diff(rows - ev, m)
        has = j >= self.row_bounds[gq]
        jj = np.where(has, j, 0)
        if self.time.size:
            surv = np.where(has, self.survival[jj], 1.0)
            sigma = np.where(has, self.sigma[jj], 0.0)
        else:
            surv = np.ones(gq.size)
            sigma = np.zeros(gq.size)
        lower, upper = transform_ci(surv, sigma, self.z, self.conf_type)
        with np.errstate(invalid="ignore"):
            se = surv * sigma
        keep = np.ones(gq.size, dtype=bool)
        if not extend:
            # R drops times after the last observation of the curve
            tmax = cells.value[cells.bounds[gq + 1] - 1]
            keep = tq <= tmax
        out = {
            "time": tq,
            "n_risk": n_risk,
            "n_event": n_event,
            "n_censor": n_censor,
            "survival": surv,
            "std_err": se,
            "lower": lower,
            "upper": upper,
        }
        return gq[keep], {k: v[keep] for k, v in out.items()}

    def medians(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Median and CI per group (R quantile.survfit rules, p = 0.5)."""
        tmax = self.cells.value[self.cells.bounds[1:] - 1]
        med = _quantile_crossing(self.survival, self.time, self.row_bounds, tmax, 0.5)
        lo = _quantile_crossing(self.lower, self.time, self.row_bounds, tmax, 0.5)
        hi = _quantile_crossing(self.upper, self.time, self.row_bounds, tmax, 0.5)
        return med, lo, hi

    def group_totals(self) -> tuple[IntArray, IntArray]:
        b = self.cells.bounds
        n = self.cells.rows_before(b[1:]) - self.cells.rows_before(b[:-1])
        rb = self.row_bounds
        d = self.cum_event[rb[1:]] - self.cum_event[rb[:-1]]
        return n, d

    @cached_property
    def cum_event(self) -> IntArray:
        """Prefix sums of events over the event rows (length rows + 1); only ``at()`` and totals need it."""
        return np.concatenate(([0], np.cumsum(self.n_event)))


def _km_product(
    n_risk: IntArray, d: IntArray, starts: IntArray, *, greenwood: bool = True
) -> tuple[FloatArray, FloatArray]:
    """Segmented product-limit and (optionally) Greenwood SD of log S; a factor of 0 (d = n) is tracked
    apart so it cannot disturb the restart of the next group's product."""
    nf = n_risk.astype(np.float64)
    df = d.astype(np.float64)
    factor = df / nf
    np.subtract(1.0, factor, out=factor)
    zero = d >= n_risk
    any_zero = bool(zero.any())
    if any_zero:
        factor[zero] = 1.0
    surv = G.seg_cumprod(factor, starts)
    sigma = factor  # placeholder when the variance is not wanted
    if greenwood:
        with np.errstate(divide="ignore"):
            gw = nf - df
            gw *= nf
            np.divide(df, gw, out=gw)
        if any_zero:
            gw[zero] = 0.0
        sigma = G.seg_cumsum(gw, starts)
        np.maximum(sigma, 0.0, out=sigma)
        np.sqrt(sigma, out=sigma)
    if any_zero:
        dead = G.seg_cumsum_int(zero, starts) > 0  # at and after the first d = n in the group
        surv[dead] = 0.0
        sigma[dead] = np.inf
    return surv, sigma


def _within_group_diff(cum: IntArray, m: int) -> IntArray:
    """cum is laid out as groups x m query times; difference to the previous time of the same group."""
    if cum.size == 0:
        return cum
    c = cum.reshape(-1, m)
    out = np.diff(c, axis=1, prepend=0)
    return out.reshape(-1)


def _quantile_crossing(
    y: FloatArray, x: FloatArray, bounds: IntArray, xmax: FloatArray, p: float
) -> FloatArray:
    """First x where the curve y (non-increasing, NaN = undefined) drops to p, per segment.

    R quantile.survfit: if y equals p (within sqrt(eps)) over a stretch, return the midpoint of that stretch,
    i.e. of x there and the next x where y < p; if the curve ends on the flat, use the last follow-up time.
    """
    with np.errstate(invalid="ignore"):
        at_or_below = y <= p + _TOL
        below = y < p - _TOL
    i1 = G.seg_first(at_or_below, bounds)
    i2 = G.seg_first(below, bounds)
    out = np.full(i1.size, np.nan)
    ok = i1 >= 0
    direct = ok & (i1 == i2)
    out[direct] = x[i1[direct]]
    flat = ok & (i1 != i2)
    nxt = flat & (i2 >= 0)
    out[nxt] = (x[i1[nxt]] + x[i2[nxt]]) / 2.0
    end = flat & (i2 < 0)
    if end.any():
        last = bounds[1:] - 1
        # R uses the end of follow-up only if the curve's last value is defined
        last_ok = end & ~np.isnan(y[np.maximum(last, 0)])
        out[last_ok] = (x[i1[last_ok]] + xmax[last_ok]) / 2.0
    return out


def _frame(labels: pd.DataFrame | None, group_idx: IntArray, cols: dict[str, Any]) -> pd.DataFrame:
    """Result DataFrame; ``cols`` must be freshly made arrays (no copy, no block consolidation)."""
    data: dict[str, Any] = {}
    if labels is not None and labels.shape[1]:
        for c in labels.columns:
            data[c] = labels[c].take(group_idx).reset_index(drop=True)
    data.update(cols)
    return pd.DataFrame(data, copy=False)


class KaplanMeierResult:
    """Kaplan–Meier fit of one sample. ``table`` has one row per distinct event time."""

    def __init__(self, core: _KMCore) -> None:
        self._core = core

    @property
    def conf_type(self) -> str:
        return self._core.conf_type

    @property
    def conf_level(self) -> float:
        return self._core.conf_level

    @property
    def n(self) -> int:
        return self._core.cells.n_rows

    @property
    def n_events(self) -> int:
        return int(self._core.n_event.sum())

    @cached_property
    def table(self) -> pd.DataFrame:
        """Columns time, n_risk, n_event, n_censor, survival, std_err, lower, upper.

        ``n_censor`` counts censorings in [t_j, t_{j+1}), so without delayed entry
        n_risk[j+1] = n_risk[j] − n_event[j] − n_censor[j]; censorings before the first event are
        ``n − n_risk[0]``.
        """
        return _frame(None, self._core.row_group, self._core.table_arrays())

    def at(self, times: Any, *, extend: bool = False) -> pd.DataFrame:
        """R ``summary(fit, times=)``: n_risk = #{T ≥ t}; n_event/n_censor in (previous time, t].

        Times are sorted and de-duplicated. With ``extend=False`` (R default) times after the last
        observation are dropped; with ``extend=True`` they are kept with n_risk = 0.
        """
        _, cols = self._core.at_arrays(times, extend)
        return _frame(None, self._core.row_group, cols)

    def median(self) -> MedianCI:
        med, lo, hi = self._core.medians()
        return MedianCI(float(med[0]), float(lo[0]), float(hi[0]))

    def __repr__(self) -> str:
        m = self.median()
        return (
            f"KaplanMeierResult(n={self.n}, events={self.n_events}, median={m.median:g} "
            f"[{m.lower:g}, {m.upper:g}], conf_type={self.conf_type!r})"
        )


class KaplanMeierStrataResult:
    """Kaplan–Meier fits of many groups at once; outputs are long DataFrames with the group column(s) first."""

    def __init__(self, core: _KMCore) -> None:
        self._core = core

    @property
    def conf_type(self) -> str:
        return self._core.conf_type

    @property
    def conf_level(self) -> float:
        return self._core.conf_level

    @property
    def groups(self) -> pd.DataFrame:
        """One row per group (sorted), one column per grouping variable."""
        return self._core.groups.labels.copy()

    @property
    def group_columns(self) -> list[str]:
        return [str(c) for c in self._core.groups.labels.columns]

    @cached_property
    def table(self) -> pd.DataFrame:
        """Group column(s) + the ``KaplanMeierResult.table`` columns, sorted by group then time."""
        return _frame(self._core.groups.labels, self._core.row_group, self._core.table_arrays())

    def at(self, times: Any, *, extend: bool = False) -> pd.DataFrame:
        """``KaplanMeierResult.at`` for every group in one call (one row per group x time)."""
        gidx, cols = self._core.at_arrays(times, extend)
        return _frame(self._core.groups.labels, gidx, cols)

    def median(self) -> pd.DataFrame:
        """Per group: n, n_event, median, lower, upper (as R ``print(survfit)``)."""
        med, lo, hi = self._core.medians()
        n, d = self._core.group_totals()
        idx = np.arange(self._core.groups.n_groups)
        return _frame(
            self._core.groups.labels,
            idx,
            {"n": n, "n_event": d, "median": med, "lower": lo, "upper": hi},
        )

    def __repr__(self) -> str:
        return f"KaplanMeierStrataResult(groups={self._core.groups.n_groups}, conf_type={self.conf_type!r})"


def kaplan_meier(
    time: Any,
    event: Any,
    *,
    entry: Any = None,
    conf_type: str = "log",
    conf_level: float = 0.95,
) -> KaplanMeierResult:
    """Kaplan–Meier estimate with Greenwood SE (Kaplan & Meier 1958; Greenwood 1926).

    ``event`` is 1/True for an event, 0/False for censored. ``entry`` gives delayed-entry (left-truncation)
    times: a subject is at risk at t when entry < t ≤ time. ``conf_type`` is "log" (R default), "log-log"
    (lifelines/SAS/Stata) or "plain".
    """
    return KaplanMeierResult(_KMCore.fit(time, event, None, entry, conf_type, conf_level, grouped=False))


def kaplan_meier_strata(
    time: Any,
    event: Any,
    groups: G.GroupsLike,
    *,
    entry: Any = None,
    conf_type: str = "log",
    conf_level: float = 0.95,
) -> KaplanMeierStrataResult:
    """Kaplan–Meier per group in one vectorised pass (one sort by (group, time); no loop over groups).

    ``groups`` is a 1-D array / Series (one grouping column), a DataFrame or a mapping name -> column
    (several grouping columns, e.g. site x operator x dialysis). Each group's curve equals
    ``kaplan_meier`` on that group's rows.
    """
    return KaplanMeierStrataResult(
        _KMCore.fit(time, event, groups, entry, conf_type, conf_level, grouped=True)
    )
