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


@dataclass(frozen=True, eq=False)
class _CIFCore:
    groups: G.Groups
    cells: G.Cells
    n_causes: int
    row_cell: IntArray
    row_group: IntArray
    row_bounds: IntArray
    time: FloatArray
    n_risk: IntArray
    n_event: IntArray  # K x rows
    cif: FloatArray  # K x rows
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
        # int8 codes make the gather into sorted order ~5x cheaper than int64. dk is causes x rows
        # ("cause-major"), so per-row vectors broadcast along contiguous rows.
        row_cell, dk, d = cells.event_cells(c.astype(np.int8) if k < 127 else c, k + 1)
        row_group = cells.group_of(row_cell)
        nr = cells.rows_before(cells.bounds[row_group + 1]) - cells.rows_before(row_cell)
        starts = G.segment_starts(row_group)

        s_after, _ = _km_product(nr, d, starts, greenwood=False)
        s_prev = G.seg_shift(s_after, starts, 1.0)
        nf = nr.astype(np.float64)
        dkf = dk.astype(np.float64)
        cif = G.seg_cumsum(dkf * (s_prev / nf), starts, inplace=True)
        # round-off can leave 1 - 1e-16 where every subject has had this cause; the log-log CI is
        # undefined at exactly 1, so snap values within a few ulps onto the boundary
        cif[cif > 1.0 - 1e-14] = 1.0  # (segment sums of non-negative terms are never below 0)
        se = _variance(variance, nf, d.astype(np.float64), dkf, s_prev, s_after, cif, starts)
        np.sqrt(se, out=se)
        with np.errstate(divide="ignore", invalid="ignore"):
            lower, upper = transform_ci(cif, se / cif, z, conf_type, overwrite_sigma=True)
        return cls(
            groups=grp,
            cells=cells,
            n_causes=k,
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

    @cached_property
    def cum_event(self) -> IntArray:
        """K x (rows + 1) prefix sums of the event counts over all event rows (for ``at()``)."""
        cum = np.zeros((self.n_causes, self.time.size + 1), dtype=np.int64)
        np.cumsum(self.n_event, axis=1, out=cum[:, 1:])
        return cum

    def table_arrays(self) -> tuple[IntArray, dict[str, Any]]:
        """Long format ordered by group, cause, time (a scatter, no sort)."""
        k, r = self.cif.shape
        if self.groups.n_groups == 1:  # the cause-major arrays are already in output order
            cols1 = {
                "time": np.tile(self.time, k),
                "cause": np.repeat(np.arange(1, k + 1), r),
                "n_risk": np.tile(self.n_risk, k),
                "n_event": self.n_event.flatten(),
                "cif": self.cif.flatten(),
                "std_err": self.std_err.flatten(),
                "lower": self.lower.flatten(),
                "upper": self.upper.flatten(),
            }
            return np.zeros(r * k, dtype=np.int64), cols1
        rows = np.arange(r)
        g = self.row_group
        first = self.row_bounds[g]  # first row of the row's group
        size = self.row_bounds[g + 1] - first
        # position of (cause, row) in the output: group block, then cause block, then time
        pos = (k * first + (rows - first))[None, :] + np.arange(k)[:, None] * size[None, :]
        pos = pos.reshape(-1)

        def scatter(x: Any) -> Any:
            out = np.empty(r * k, dtype=np.asarray(x).dtype)
            out[pos] = np.broadcast_to(x, (k, r)).reshape(-1)
            return out

        cols = {
            "time": scatter(self.time[None, :]),
            "cause": scatter(np.arange(1, k + 1)[:, None]),
            "n_risk": scatter(self.n_risk[None, :]),
            "n_event": scatter(self.n_event),
            "cif": scatter(self.cif),
            "std_err": scatter(self.std_err),
            "lower": scatter(self.lower),
            "upper": scatter(self.upper),
        }
        return scatter(g[None, :]), cols

    def at_arrays(self, times: Any, extend: bool) -> tuple[IntArray, dict[str, Any]]:
        q = as_query_times(times)
        ng, m, k = self.groups.n_groups, q.size, self.n_causes
        gq = np.repeat(np.arange(ng, dtype=np.int64), m)
        tq = np.tile(q, ng)
        cells = self.cells
        n_risk = cells.rows_ge(gq, tq)
        upto = cells.locate(gq, tq, "right")
        j = np.searchsorted(self.row_cell, upto, side="left") - 1  # last event row at or before t
        # events of each cause in the group up to t: prefix sums over event rows
        cum = (self.cum_event[:, j + 1] - self.cum_event[:, self.row_bounds[gq]]).T  # (G*m) x K
        n_event = np.diff(cum.reshape(ng, m, k), axis=1, prepend=0).reshape(-1, k)
        has = (j >= self.row_bounds[gq])[:, None]
        jj = np.where(has[:, 0], j, 0)
        if self.time.size:
            cif = np.where(has, self.cif.T[jj], 0.0)
            se = np.where(has, self.std_err.T[jj], 0.0)
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
    """Per-time coefficients α, β, γ of Σ α(F(t)−F_j)² − 2γ(F(t)−F_j) + β (see module docstring).

    n, d, s_prev, s_after are per row; dk is causes x rows. In-place arithmetic: at 10^6 rows every
    temporary array costs page faults comparable to the arithmetic itself.
    """
    u = s_prev / n
    w = u * u  # S(t-)^2 / n^2, shared by all causes
    with np.errstate(divide="ignore", invalid="ignore"):
        if variance == "delta":
            # Dinse & Larson 1986 eq. 6; where n = d the (F(t) − F_j) factor is 0 for all t ≥ t_j
            alpha = d / (n * (n - d))
            alpha[n <= d] = 0.0
            beta = n - dk
            beta *= dk
            beta *= w / n
            gamma = dk * (u / n)
            return alpha, beta, gamma
        # cmprsk cinc: t6 = S(t-)^2 t5 m / n^2 with m·t5 = m − m(m−1)/(n−1) for m tied events
        # (written without a branch: m ≤ 1 gives m, also when n = 1)
        inv_n1 = 1.0 / np.maximum(n - 1.0, 1.0)
        inv_sa = 1.0 / s_after
        inv_sa[s_after <= 0] = 0.0
        t6k = dk - 1.0
        t6k *= dk
        t6k *= inv_n1
        np.subtract(dk, t6k, out=t6k)
        t6k *= w
        do = d - dk
        alpha = do - 1.0
        alpha *= do
        alpha *= inv_n1
        np.subtract(do, alpha, out=alpha)
        alpha *= w  # t6 of the other causes
        alpha += t6k
        alpha *= inv_sa * inv_sa
        gamma = t6k * inv_sa
    return alpha, t6k, gamma


def _variance(
    variance: str,
    n: FloatArray,
    d: FloatArray,
    dk: FloatArray,
    s_prev: FloatArray,
    s_after: FloatArray,
    cif: FloatArray,
    starts: IntArray,
) -> FloatArray:
    """Var F(t) = F²·Σα − 2F·Σ(αF_j + γ) + Σ(αF_j² + 2γF_j + β), clipped at 0 (causes x rows).

    Uses αF_j² + 2γF_j + β = F_j(αF_j + γ) + γF_j + β and reuses the term buffers in place.
    """
    alpha, beta, gamma = _variance_terms(variance, n, d, dk, s_prev, s_after)
    b_term = alpha * cif  # broadcasts a per-row alpha (delta method) to causes x rows
    b_term += gamma
    np.multiply(gamma, cif, out=gamma)  # γF_j
    beta += gamma
    np.multiply(b_term, cif, out=gamma)  # F_j(αF_j + γ)
    c_term = beta
    c_term += gamma
    sum_a = G.seg_cumsum(alpha, starts, inplace=True)
    sum_b = G.seg_cumsum(b_term, starts, inplace=True)
    sum_c = G.seg_cumsum(c_term, starts, inplace=True)
    if sum_a.shape == cif.shape:
        var = sum_a
        var *= cif
    else:
        var = cif * sum_a
    var *= cif
    sum_b *= cif
    sum_b *= 2.0
    var -= sum_b
    var += sum_c
    np.maximum(var, 0.0, out=var)
    return var


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
        return _frame(None, self._core.row_group, cols)

    def at(self, times: Any, *, extend: bool = False) -> pd.DataFrame:
        """CIF step values at ``times`` (sorted, de-duplicated): n_risk = #{T ≥ t}, n_event = cause-k
        events in (previous time, t]. Times after the last observation are dropped unless ``extend``."""
        _, cols = self._core.at_arrays(times, extend)
        return _frame(None, self._core.row_group, cols)

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
