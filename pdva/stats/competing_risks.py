"""Aalen–Johansen cumulative incidence for competing risks, single-sample and stratified.

F̂_k(t) = Σ_{t_j ≤ t} Ŝ(t_{j−1}) d_kj / n_j, with Ŝ the all-cause Kaplan–Meier just before t_j
(research/stats.md §1.3; R survival ``compete`` vignette). Ties between causes and events at time 0 need no
special handling: events at t_j all use the risk set n_j = #{T ≥ t_j} (lifelines' AalenJohansenFitter gets
both wrong; it is not used).

Variance (``variance=``):

- ``"aalen"``: Aalen (1978) counting-process estimator exactly as Gray's cmprsk ``cuminc`` computes it
  (Fortran ``cinc``: hypergeometric variance of the cause-k and other-cause counts at each time).
- ``"delta"``: delta method / Dinse–Larson approximation (SAS ERROR=DELTA, lifelines, sksurv
  ``var_type="Dinse_Approx"``).

Both are sums Σ_j [α_j (F(t) − F_j)² − 2γ_j (F(t) − F_j) + β_j], expanded into three cumulative sums so the
whole curve costs O(n) per cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from . import _groups as G
from ._confint import CONF_TYPES, transform_ci
from ._validate import FloatArray, IntArray, as_cause, as_times, choice, conf_z, same_length
from .survival import _frame, _km_product, as_query_times

VARIANCES = ("aalen", "delta")
_CIF_COLUMNS = ["time", "cause", "n_risk", "n_event", "cif", "std_err", "lower", "upper"]


@dataclass(frozen=True, eq=False)
class _CIFCore:
    groups: G.Groups
    cells: G.Cells
    n_causes: int
    cum_cause: IntArray  # (n_cells + 1) x K prefix sums of cause counts
    row_cell: IntArray
    row_group: IntArray
    row_bounds: IntArray
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray  # rows x K
    cif: FloatArray  # rows x K
    std_err: FloatArray
    lower: FloatArray
    upper: FloatArray
    conf_type: str
    conf_level: float
    variance: str
    z: float

    @classmethod
    def fit(
        cls,
        time: Any,
        cause: Any,
        groups: G.GroupsLike,
        *,
        grouped: bool,
        n_causes: int | None,
        conf_type: str,
        variance: str,
        conf_level: float,
    ) -> _CIFCore:
        choice(conf_type, "conf_type", CONF_TYPES)
        choice(variance, "variance", VARIANCES)
        z = conf_z(conf_level)
        if n_causes is not None and (not isinstance(n_causes, int | np.integer) or n_causes < 1):
            raise ValueError(f"n_causes must be a positive integer, got {n_causes!r}")
        t = as_times(time, "time")
        c = as_cause(cause, "cause", n_causes=n_causes)
        n = same_length(time=t, cause=c)
        grp = G.factorize_groups(groups, n) if grouped else G.single_group(n)
        k = int(n_causes) if n_causes is not None else max(1, int(c.max()))

        cells = G.sort_cells(t, grp.codes, grp.n_groups)
        counts = cells.cell_counts(c, k + 1)[:, 1:]  # cells x K
        cum_cause = np.zeros((cells.n_cells + 1, k), dtype=np.int64)
        np.cumsum(counts, axis=0, out=cum_cause[1:])
        d_any = counts.sum(axis=1)
        row_cell = np.flatnonzero(d_any > 0)
        row_group = cells.group[row_cell]
        nr = cells.cum_count[cells.bounds[row_group + 1]] - cells.cum_count[row_cell]
        dk = counts[row_cell]
        d = d_any[row_cell]
        starts = G.segment_starts(row_group)

        s_after, _ = _km_product(nr, d, starts)
        s_prev = G.seg_shift(s_after, starts, 1.0)
        nf = nr.astype(np.float64)[:, None]
        dkf = dk.astype(np.float64)
        cif = G.seg_cumsum(s_prev[:, None] * dkf / nf, starts)
        # round-off can leave 1 - 1e-16 where every subject has had this cause; the log-log CI is
        # undefined at exactly 1, so snap values within a few ulps onto the boundary
        cif = np.where(np.abs(cif - 1.0) <= 1e-14, 1.0, np.clip(cif, 0.0, 1.0))
        alpha, beta, gamma = _variance_terms(
            variance, nf, d.astype(np.float64)[:, None], dkf, s_prev, s_after
        )
        a = G.seg_cumsum(alpha, starts)
        b = G.seg_cumsum(alpha * cif + gamma, starts)
        cc = G.seg_cumsum(alpha * cif * cif + 2.0 * gamma * cif + beta, starts)
        var = np.maximum(cif * cif * a - 2.0 * cif * b + cc, 0.0)
        se = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            lower, upper = transform_ci(cif, se / cif, z, conf_type)
        return cls(
            groups=grp,
            cells=cells,
            n_causes=k,
            cum_cause=cum_cause,
            row_cell=row_cell,
            row_group=row_group,
            row_bounds=np.searchsorted(row_group, np.arange(grp.n_groups + 1), side="left"),
            time=cells.value[row_cell],
            n_risk=nr,
            n_event=dk,
            cif=cif,
            std_err=se,
            lower=lower,
            upper=upper,
            conf_type=conf_type,
            conf_level=float(conf_level),
            variance=variance,
            z=z,
        )

    def table_arrays(self) -> tuple[IntArray, dict[str, Any]]:
        """Long format ordered by group, cause, time."""
        r, k = self.cif.shape
        rows = np.repeat(np.arange(r), k)
        cause = np.tile(np.arange(1, k + 1), r)
        order = np.lexsort((rows, cause, self.row_group[rows]))
        rows, cause = rows[order], cause[order]
        flat = rows * k + (cause - 1)
        cols = {
            "time": self.time[rows],
            "cause": cause,
            "n_risk": self.n_risk[rows],
            "n_event": self.n_event.reshape(-1)[flat],
            "cif": self.cif.reshape(-1)[flat],
            "std_err": self.std_err.reshape(-1)[flat],
            "lower": self.lower.reshape(-1)[flat],
            "upper": self.upper.reshape(-1)[flat],
        }
        return self.row_group[rows], cols

    def at_arrays(self, times: Any, extend: bool) -> tuple[IntArray, dict[str, Any]]:
        q = as_query_times(times)
        ng, m, k = self.groups.n_groups, q.size, self.n_causes
        gq = np.repeat(np.arange(ng, dtype=np.int64), m)
        tq = np.tile(q, ng)
        cells = self.cells
        n_risk = cells.rows_ge(gq, tq)
        upto = cells.locate(gq, tq, "right")
        cum = self.cum_cause[upto] - self.cum_cause[cells.bounds[gq]]  # (G*m) x K
        n_event = np.diff(cum.reshape(ng, m, k), axis=1, prepend=0).reshape(-1, k)
        j = np.searchsorted(self.row_cell, upto, side="left") - 1
        has = (j >= self.row_bounds[gq])[:, None]
        jj = np.where(has[:, 0], j, 0)
        if self.time.size:
            cif = np.where(has, self.cif[jj], 0.0)
            se = np.where(has, self.std_err[jj], 0.0)
        else:
            cif = np.zeros((gq.size, k))
            se = np.zeros((gq.size, k))
        with np.errstate(divide="ignore", invalid="ignore"):
            lower, upper = transform_ci(cif, se / cif, self.z, self.conf_type)
        keep = np.ones(gq.size, dtype=bool)
        if not extend:
            keep = tq <= cells.value[cells.bounds[gq + 1] - 1]
        # long format: group, cause, time
        qi = np.flatnonzero(keep)
        ngq = qi.size
        rows = np.tile(qi, k)
        cause = np.repeat(np.arange(1, k + 1), ngq)
        order = np.lexsort((rows, cause, gq[rows]))
        rows, cause = rows[order], cause[order]
        ci = cause - 1
        cols = {
            "time": tq[rows],
            "cause": cause,
            "n_risk": n_risk[rows],
            "n_event": n_event[rows, ci],
            "cif": cif[rows, ci],
            "std_err": se[rows, ci],
            "lower": lower[rows, ci],
            "upper": upper[rows, ci],
        }
        return gq[rows], cols


def _variance_terms(
    variance: str,
    n: FloatArray,
    d: FloatArray,
    dk: FloatArray,
    s_prev: FloatArray,
    s_after: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-time coefficients α, β, γ of Σ α(F(t)−F_j)² − 2γ(F(t)−F_j) + β (see module docstring)."""
    sp = s_prev[:, None]
    sa = s_after[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        if variance == "delta":
            # Dinse & Larson 1986 eq. 6; where n = d the (F(t) − F_j) factor is 0 for all t ≥ t_j
            alpha = np.where(n > d, d / (n * (n - d)), 0.0)
            beta = sp * sp * dk * (n - dk) / n**3
            gamma = sp * dk / (n * n)
        else:
            # cmprsk cinc: t5 = 1 - (m-1)/(n-1) for m > 1 tied events, t6 = S(t-)^2 t5 m / n^2
            do = d - dk
            t5k = np.where(dk > 1, 1.0 - (dk - 1.0) / (n - 1.0), 1.0)
            t5o = np.where(do > 1, 1.0 - (do - 1.0) / (n - 1.0), 1.0)
            t6k = sp * sp * t5k * dk / (n * n)
            t6o = sp * sp * t5o * do / (n * n)
            alive = sa > 0
            alpha = np.where(alive, (t6k + t6o) / (sa * sa), 0.0)
            gamma = np.where(alive, t6k / sa, 0.0)
            beta = t6k
    return alpha, beta, gamma


class CumulativeIncidenceResult:
    """Aalen–Johansen CIFs of one sample; ``table`` is long format (one row per event time and cause)."""

    def __init__(self, core: _CIFCore) -> None:
        self._core = core

    @property
    def n_causes(self) -> int:
        return self._core.n_causes

    @property
    def conf_type(self) -> str:
        return self._core.conf_type

    @property
    def variance(self) -> str:
        return self._core.variance

    @cached_property
    def table(self) -> pd.DataFrame:
        """Columns time, cause, n_risk, n_event, cif, std_err, lower, upper; sorted by cause then time.

        Rows are the distinct times with an event of any cause; ``n_event`` is that cause's count.
        """
        _, cols = self._core.table_arrays()
        return pd.DataFrame(cols, columns=_CIF_COLUMNS)

    def at(self, times: Any, *, extend: bool = False) -> pd.DataFrame:
        """CIF step values at ``times`` (sorted, de-duplicated): n_risk = #{T ≥ t}, n_event = cause-k
        events in (previous time, t]. Times after the last observation are dropped unless ``extend``."""
        _, cols = self._core.at_arrays(times, extend)
        return pd.DataFrame(cols, columns=_CIF_COLUMNS)

    def __repr__(self) -> str:
        return f"CumulativeIncidenceResult(causes={self.n_causes}, variance={self.variance!r})"


class CumulativeIncidenceStrataResult:
    """Aalen–Johansen CIFs for many groups at once, long format with the group column(s) first."""

    def __init__(self, core: _CIFCore) -> None:
        self._core = core

    @property
    def n_causes(self) -> int:
        return self._core.n_causes

    @property
    def groups(self) -> pd.DataFrame:
        return self._core.groups.labels.copy()

    @cached_property
    def table(self) -> pd.DataFrame:
        gidx, cols = self._core.table_arrays()
        return _frame(self._core.groups.labels, gidx, cols)

    def at(self, times: Any, *, extend: bool = False) -> pd.DataFrame:
        gidx, cols = self._core.at_arrays(times, extend)
        return _frame(self._core.groups.labels, gidx, cols)

    def __repr__(self) -> str:
        return f"CumulativeIncidenceStrataResult(groups={self._core.groups.n_groups}, causes={self.n_causes})"


def cumulative_incidence(
    time: Any,
    cause: Any,
    *,
    conf_type: str = "log-log",
    variance: str = "aalen",
    conf_level: float = 0.95,
    n_causes: int | None = None,
) -> CumulativeIncidenceResult:
    """Aalen–Johansen cumulative incidence (cause 0 = censored, 1..K = causes).

    ``n_causes`` fixes K (codes above it are rejected; causes without events get a zero curve); by default
    K = max(cause). ``conf_type`` "log-log" (sksurv/SAS, default), "log" (R survfit) or "plain";
    ``variance`` "aalen" (cmprsk) or "delta" (Dinse–Larson / SAS DELTA / lifelines).
    """
    core = _CIFCore.fit(
        time,
        cause,
        None,
        grouped=False,
        n_causes=n_causes,
        conf_type=conf_type,
        variance=variance,
        conf_level=conf_level,
    )
    return CumulativeIncidenceResult(core)


def cumulative_incidence_strata(
    time: Any,
    cause: Any,
    groups: G.GroupsLike,
    *,
    conf_type: str = "log-log",
    variance: str = "aalen",
    conf_level: float = 0.95,
    n_causes: int | None = None,
) -> CumulativeIncidenceStrataResult:
    """``cumulative_incidence`` for every group in one vectorised pass; K is common to all groups."""
    core = _CIFCore.fit(
        time,
        cause,
        groups,
        grouped=True,
        n_causes=n_causes,
        conf_type=conf_type,
        variance=variance,
        conf_level=conf_level,
    )
    return CumulativeIncidenceStrataResult(core)
