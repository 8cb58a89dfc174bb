"""Confidence intervals for a binomial proportion x/n, vectorised over arrays (research/stats.md §1.4).

Methods (never Wald):

- ``wilson``: Wilson (1927) score interval.
- ``wilson_cc``: Wilson with continuity correction, Newcombe (1998) method 4.
- ``clopper_pearson``: exact interval from Beta quantiles (Clopper & Pearson 1934).
- ``jeffreys``: equal-tailed Beta(x + ½, n − x + ½) interval, with L = 0 at x = 0 and U = 1 at x = n
  (Brown, Cai & DasGupta 2001).

Non-integer x is accepted (weighted or rate-derived numerators, as in the PHE tools) with 0 ≤ x ≤ n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from . import _groups as G
from ._validate import FloatArray, as_event, as_float, choice, conf_z, same_length

METHODS = ("wilson", "wilson_cc", "clopper_pearson", "jeffreys")


@dataclass(frozen=True)
class ProportionCI:
    """Point estimate x/n and interval; arrays for array input, floats for scalar input."""

    estimate: Any
    lower: Any
    upper: Any
    method: str
    conf_level: float


def _wilson(x: FloatArray, n: FloatArray, z: float) -> tuple[FloatArray, FloatArray]:
    z2 = z * z
    centre = (x + z2 / 2.0) / (n + z2)
    half = z * np.sqrt(np.maximum(x * (n - x) / n + z2 / 4.0, 0.0)) / (n + z2)
    # the bounds are exactly 0 at x = 0 and 1 at x = n; rounding would give 1 - 1e-16
    lo = np.where(x <= 0, 0.0, np.clip(centre - half, 0.0, x / n))
    hi = np.where(x >= n, 1.0, np.clip(centre + half, x / n, 1.0))
    return lo, hi


def _wilson_cc(x: FloatArray, n: FloatArray, z: float) -> tuple[FloatArray, FloatArray]:
    # Newcombe (1998) eq. for method 4; it solves (|p - θ| - 1/(2n))^2 = z^2 θ(1-θ)/n, so the
    # radicand is z^2 + 4na(1-a) with a = p ∓ 1/(2n): the bound is 0 (1) once a leaves [0, 1].
    z2 = z * z
    p = x / n
    q = 1.0 - p
    den = 2.0 * (n + z2)
    with np.errstate(invalid="ignore"):
        lo = (2 * n * p + z2 - 1 - z * np.sqrt(np.maximum(z2 - 2 - 1 / n + 4 * p * (n * q + 1), 0.0))) / den
        hi = (2 * n * p + z2 + 1 + z * np.sqrt(np.maximum(z2 + 2 - 1 / n + 4 * p * (n * q - 1), 0.0))) / den
    lo = np.where(x <= 0.5, 0.0, np.clip(lo, 0.0, 1.0))
    hi = np.where(x >= n - 0.5, 1.0, np.clip(hi, 0.0, 1.0))
    return np.minimum(lo, p), np.maximum(hi, p)


def _beta_interval(
    a_lo: FloatArray,
    b_lo: FloatArray,
    a_hi: FloatArray,
    b_hi: FloatArray,
    x: FloatArray,
    n: FloatArray,
    alpha: float,
) -> tuple[FloatArray, FloatArray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(x > 0, special.betaincinv(a_lo, np.maximum(b_lo, 1e-300), alpha / 2.0), 0.0)
        hi = np.where(x < n, special.betaincinv(np.maximum(a_hi, 1e-300), b_hi, 1.0 - alpha / 2.0), 1.0)
    return lo, hi


def proportion_ci(x: Any, n: Any, method: str = "wilson", conf_level: float = 0.95) -> ProportionCI:
    """Two-sided CI for x events out of n (vectorised; x and n broadcast against each other)."""
    choice(method, "method", METHODS)
    z = conf_z(conf_level)
    scalar = np.ndim(x) == 0 and np.ndim(n) == 0
    xa = as_float(np.atleast_1d(x), "x")
    na = as_float(np.atleast_1d(n), "n")
    try:
        xa, na = np.broadcast_arrays(xa, na)
    except ValueError:
        raise ValueError(f"x and n have incompatible shapes {xa.shape} and {na.shape}") from None
    if (na <= 0).any():
        raise ValueError("n must be positive")
    if (xa < 0).any() or (xa > na).any():
        raise ValueError("x must satisfy 0 <= x <= n")
    alpha = 1.0 - conf_level
    if method == "wilson":
        lo, hi = _wilson(xa, na, z)
    elif method == "wilson_cc":
        lo, hi = _wilson_cc(xa, na, z)
    elif method == "clopper_pearson":
        lo, hi = _beta_interval(xa, na - xa + 1, xa + 1, na - xa, xa, na, alpha)
    else:
        lo, hi = _beta_interval(xa + 0.5, na - xa + 0.5, xa + 0.5, na - xa + 0.5, xa, na, alpha)
    est = xa / na
    if scalar:
        return ProportionCI(float(est[0]), float(lo[0]), float(hi[0]), method, float(conf_level))
    return ProportionCI(est, lo, hi, method, float(conf_level))


def proportion_ci_strata(
    outcome: Any,
    groups: G.GroupsLike,
    *,
    method: str = "wilson",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Per-group x (sum of a 0/1 outcome), n, estimate and CI in one call (bincount, no loop per group)."""
    y = as_event(outcome, "outcome")
    n = same_length(outcome=y)
    grp = G.factorize_groups(groups, n)
    x = np.bincount(grp.codes, weights=y, minlength=grp.n_groups)
    m = np.bincount(grp.codes, minlength=grp.n_groups).astype(np.float64)
    ci = proportion_ci(x, m, method=method, conf_level=conf_level)
    out = grp.labels.copy()
    out["x"] = x.astype(np.int64)
    out["n"] = m.astype(np.int64)
    out["estimate"] = ci.estimate
    out["lower"] = ci.lower
    out["upper"] = ci.upper
    return out
