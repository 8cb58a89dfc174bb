"""Funnel-plot control limits, over-dispersion and per-unit flags (Spiegelhalter, Stat Med 2005;24:1185;
Qual Saf Health Care 2005;14:347; research/stats.md §1.5).

Limit methods (``method=``), each giving limits for the quantiles ``probs`` at precision n:

- ``normal``: θ0 + z_p·√(θ0(1−θ0)/n), clipped to [0, 1]. Identical to the PHE/Fingertips "Wilson" funnel.
- ``arcsine``: the same on the variance-stabilising scale asin√p with s = 1/(2√n), back-transformed
  (FunnelPlotR "PR").
- ``exact_binomial``: Spiegelhalter 2005 Appendix A.1.1 interpolated binomial quantile (r_p − α)/n with
  r_p = F⁻¹(p) and α = (F(r_p) − p)/(F(r_p) − F(r_p − 1)); clipped to [0, 1] and, where discreteness puts
  it on the wrong side of θ0 (tiny n·θ0), set to θ0.
- ``poisson_ratio``: exact (Byar/Garwood chi-square) limits for an O/E ratio at expected count E = n around
  target ratio θ0 (usually 1): lower χ²_p(2θ0E)/(2E), upper χ²_p(2(θ0E + 1))/(2E) (FunnelPlotR).
- ``log_ratio`` / ``sqrt_ratio``: normal limits for O/E on the log scale (s = 1/√E, SHMI) or square-root
  scale (s = 1/(2√E), CQC), back-transformed.

Over-dispersion (normal-type methods only): z-scores are Winsorised at the ``trim`` and 1 − ``trim`` quantiles,
φ = mean(z²); multiplicative limits use s·√max(φ, 1); additive random effects use √(s² + τ²) with the
DerSimonian–Laird τ² = max(0, (Iφ − (I − 1)) / (Σw − Σw²/Σw)), w = 1/s².
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._validate import FloatArray, as_float, choice, same_length

METHODS = ("normal", "arcsine", "exact_binomial", "poisson_ratio", "log_ratio", "sqrt_ratio")
_NORMAL_TYPE = ("normal", "arcsine", "log_ratio", "sqrt_ratio")
_PROPORTION = ("normal", "arcsine", "exact_binomial")
OD_MODELS = ("multiplicative", "additive")
FLAG_PROBS = (0.001, 0.025, 0.975, 0.999)  # 99.8% and 95% two-sided


@dataclass(frozen=True)
class Overdispersion:
    """Over-dispersion estimate for a set of units on the scale of ``method``."""

    method: str
    phi: float  # mean squared Winsorised z-score
    tau2: float  # additive between-unit variance on the method's scale
    n_units: int
    chi2: float  # I·φ, compare with χ² on I − 1 df
    p_value: float
    trim: float

    @property
    def overdispersed(self) -> bool:
        """True if the χ² test rejects 'no over-dispersion' at 5%."""
        return self.p_value < 0.05


def _check_target(target: Any, method: str) -> float:
    try:
        t = float(target)
    except (TypeError, ValueError):
        raise ValueError(f"target must be a number, got {target!r}") from None
    if method in _PROPORTION and not 0.0 < t < 1.0:
        raise ValueError(
            f"target must be a proportion strictly between 0 and 1 for method {method!r}, got {t}"
        )
    if method not in _PROPORTION and not (np.isfinite(t) and t > 0):
        raise ValueError(f"target must be a positive ratio for method {method!r}, got {t}")
    return t


def _check_probs(probs: Any) -> FloatArray:
    p = as_float(probs, "probs")
    if ((p <= 0) | (p >= 1)).any():
        raise ValueError("probs must lie strictly between 0 and 1")
    return p


def _scale(method: str, target: float, n: FloatArray) -> tuple[float, FloatArray]:
    """Target and within-unit SE on the method's (normal) scale."""
    if method == "normal":
        return target, np.sqrt(target * (1.0 - target) / n)
    if method == "arcsine":
        return float(np.arcsin(np.sqrt(target))), 0.5 / np.sqrt(n)
    if method == "log_ratio":
        return float(np.log(target)), 1.0 / np.sqrt(n)
    return float(np.sqrt(target)), 0.5 / np.sqrt(n)  # sqrt_ratio


def _back(method: str, y: FloatArray) -> FloatArray:
    if method == "normal":
        return np.clip(y, 0.0, 1.0)
    if method == "arcsine":
        return np.sin(np.clip(y, 0.0, np.pi / 2.0)) ** 2
    if method == "log_ratio":
        return np.exp(y)
    return np.maximum(y, 0.0) ** 2  # sqrt_ratio


def _to_scale(method: str, value: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        if method == "normal":
            return value
        if method == "arcsine":
            return np.arcsin(np.sqrt(np.clip(value, 0.0, 1.0)))
        if method == "log_ratio":
            return np.log(value)
        return np.sqrt(value)


def _limit_matrix(
    target: float,
    n: FloatArray,
    method: str,
    p: FloatArray,
    overdispersion: Overdispersion | None,
    od_model: str,
) -> FloatArray:
    """Limits with shape (len(n), len(p))."""
    if method in _NORMAL_TYPE:
        centre, s = _scale(method, target, n)
        s = _inflate(s, method, overdispersion, od_model)
        zq = stats.norm.ppf(p)
        return _back(method, centre + s[:, None] * zq[None, :])
    if overdispersion is not None:
        raise ValueError(
            f"over-dispersion adjustment needs a normal-type method {_NORMAL_TYPE}, not {method!r}"
        )
    if method == "exact_binomial":
        nn = n[:, None]
        r = stats.binom.ppf(p[None, :], nn, target)
        f_r = stats.binom.cdf(r, nn, target)
        f_r1 = stats.binom.cdf(r - 1, nn, target)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(f_r > f_r1, (f_r - p[None, :]) / (f_r - f_r1), 0.0)
        lim = np.clip((r - a) / nn, 0.0, 1.0)
        # at tiny n*θ0 the interpolated quantile can land on the wrong side of θ0: no usable limit there
        return np.where(p[None, :] < 0.5, np.minimum(lim, target), np.maximum(lim, target))
    # poisson_ratio
    mu = target * n[:, None]
    lower = stats.chi2.ppf(p[None, :], 2.0 * mu) / (2.0 * n[:, None])
    upper = stats.chi2.ppf(p[None, :], 2.0 * (mu + 1.0)) / (2.0 * n[:, None])
    return np.where(p[None, :] < 0.5, lower, upper)


def _inflate(s: FloatArray, method: str, od: Overdispersion | None, od_model: str) -> FloatArray:
    if od is None:
        return s
    if od.method != method:
        raise ValueError(f"over-dispersion was estimated for method {od.method!r}, limits use {method!r}")
    if od_model == "multiplicative":
        return s * np.sqrt(max(od.phi, 1.0))
    return np.sqrt(s * s + od.tau2)


def funnel_limits(
    target: float,
    n: Any,
    *,
    method: str,
    probs: Any = (0.001, 0.025, 0.975, 0.999),
    overdispersion: Overdispersion | None = None,
    od_model: str = "additive",
) -> pd.DataFrame:
    """Control limits at each precision n (denominator, or expected count E for ratio methods).

    Returns columns ``n``, ``target`` and one column per quantile named ``limit_<p>`` (e.g. ``limit_0.025``).
    Proportion limits are on the 0–1 scale (multiply by 100 for percentages).
    """
    choice(method, "method", METHODS)
    choice(od_model, "od_model", OD_MODELS)
    t = _check_target(target, method)
    nn = as_float(n, "n")
    if (nn <= 0).any():
        raise ValueError("n must be positive")
    if method == "exact_binomial" and (nn != np.round(nn)).any():
        raise ValueError("exact_binomial limits need integer denominators n")
    p = _check_probs(probs)
    lim = _limit_matrix(t, nn, method, p, overdispersion, od_model)
    out = pd.DataFrame({"n": nn, "target": t})
    for j, pj in enumerate(p):
        out[f"limit_{pj:g}"] = lim[:, j]
    return out


def _unit_values(observed: FloatArray, n: FloatArray, method: str) -> FloatArray:
    return observed / n


def _default_target(observed: FloatArray, n: FloatArray, method: str) -> float:
    # proportions: pooled Σx/Σn (PHE baseline); ratios: O/E target 1
    return float(observed.sum() / n.sum()) if method in _PROPORTION else 1.0


def _inputs(observed: Any, n: Any, method: str) -> tuple[FloatArray, FloatArray]:
    o = as_float(observed, "observed")
    nn = as_float(n, "n")
    same_length(observed=o, n=nn)
    if (nn <= 0).any():
        raise ValueError("n must be positive")
    if (o < 0).any():
        raise ValueError("observed must be non-negative")
    if method in _PROPORTION and (o > nn).any():
        raise ValueError("observed must not exceed n for proportion methods")
    return o, nn


def overdispersion(
    observed: Any,
    n: Any,
    target: float | None = None,
    *,
    method: str = "normal",
    trim: float = 0.1,
) -> Overdispersion:
    """Estimate φ and τ² from unit z-scores on the scale of ``method`` (Spiegelhalter 2005; FunnelPlotR).

    ``observed``/``n`` are events and denominators (proportion methods) or O and E (ratio methods).
    ``target`` defaults to the pooled proportion Σx/Σn, or 1 for ratios.
    """
    choice(method, "method", _NORMAL_TYPE)
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim!r}")
    o, nn = _inputs(observed, n, method)
    t = _check_target(_default_target(o, nn, method) if target is None else target, method)
    centre, s = _scale(method, t, nn)
    y = _to_scale(method, _unit_values(o, nn, method))
    z = (y - centre) / s
    finite = np.isfinite(z)  # log of O = 0 is -inf: Winsorising brings it to the lower quantile
    if finite.sum() < 2:
        raise ValueError("over-dispersion needs at least two units with finite z-scores")
    lo, hi = np.quantile(z[finite], [trim, 1.0 - trim])  # R quantile type 7
    zw = np.clip(np.where(np.isnan(z), 0.0, z), lo, hi)
    units = zw.size
    phi = float(np.mean(zw * zw))
    w = 1.0 / (s * s)
    denom = float(w.sum() - (w * w).sum() / w.sum())
    tau2 = max(0.0, (units * phi - (units - 1)) / denom) if denom > 0 else 0.0
    chi2 = units * phi
    return Overdispersion(
        method=method,
        phi=phi,
        tau2=tau2,
        n_units=units,
        chi2=chi2,
        p_value=float(stats.chi2.sf(chi2, units - 1)),
        trim=float(trim),
    )


def _tail_probabilities(
    o: FloatArray, nn: FloatArray, t: float, method: str
) -> tuple[FloatArray, FloatArray]:
    """One-sided mid-p values P(X < o) + ½P(X = o) and P(X > o) + ½P(X = o) under the target."""
    if (o != np.round(o)).any():
        raise ValueError(f"method {method!r} needs integer observed counts")
    if method == "exact_binomial":
        below = stats.binom.cdf(o - 1, nn, t)
        at = stats.binom.pmf(o, nn, t)
    else:  # poisson_ratio: O ~ Poisson(target * E)
        below = stats.poisson.cdf(o - 1, t * nn)
        at = stats.poisson.pmf(o, t * nn)
    p_low = below + 0.5 * at
    return p_low, 1.0 - below - 0.5 * at


def funnel_flags(
    observed: Any,
    n: Any,
    target: float | None = None,
    *,
    method: str = "normal",
    overdispersion: Overdispersion | None = None,
    od_model: str = "additive",
) -> pd.DataFrame:
    """Per unit: value (x/n or O/E), z-score, one-sided p-values, the 95% and 99.8% limits at its n, and
    flags "high" / "low" / "within" at each level.

    Normal-type methods flag on z (PHE: |z| > 1.959964 / 3.090232), which is the same as lying beyond the
    limits. Exact methods flag on one-sided mid-p tail probabilities under the target (binomial, or Poisson
    with mean θ0·E); comparing a discrete x/n with the interpolated limits would flag, e.g., 5/5 at θ0 = 0.5
    as a 99.8% outlier although P(X = 5) = 0.03.
    """
    choice(method, "method", METHODS)
    choice(od_model, "od_model", OD_MODELS)
    o, nn = _inputs(observed, n, method)
    t = _check_target(_default_target(o, nn, method) if target is None else target, method)
    p = np.asarray(FLAG_PROBS)
    lim = _limit_matrix(t, nn, method, p, overdispersion, od_model)
    value = _unit_values(o, nn, method)
    if method in _NORMAL_TYPE:
        centre, s = _scale(method, t, nn)
        s = _inflate(s, method, overdispersion, od_model)
        with np.errstate(divide="ignore"):
            z = (_to_scale(method, value) - centre) / s
        p_low, p_high = stats.norm.cdf(z), stats.norm.sf(z)
    else:
        z = np.full(value.size, np.nan)
        p_low, p_high = _tail_probabilities(o, nn, t, method)

    def flag(alpha: float) -> Any:
        return np.where(p_high < alpha, "high", np.where(p_low < alpha, "low", "within"))

    return pd.DataFrame(
        {
            "observed": o,
            "n": nn,
            "value": value,
            "target": t,
            "z": z,
            "p_low": p_low,
            "p_high": p_high,
            "lower_998": lim[:, 0],
            "lower_95": lim[:, 1],
            "upper_95": lim[:, 2],
            "upper_998": lim[:, 3],
            "flag_95": flag(0.025),
            "flag_998": flag(0.001),
        }
    )
