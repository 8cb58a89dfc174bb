"""Risk-adjusted CUSUM (Steiner, Cook, Farewell & Treasure, Biostatistics 2000;1:441), Bernoulli CUSUM,
VLAD (Lovegrove et al., Lancet 1997) and threshold choice by simulation (research/stats.md §1.6).

Log-likelihood-ratio weight of case t with predicted risk p_t and outcome y_t (odds ratio R_A against R_0):
    y=1: W = log[(1 − p + R_0 p) R_A / ((1 − p + R_A p) R_0)]
    y=0: W = log[(1 − p + R_0 p) / (1 − p + R_A p)]
Chart: X_t = max(0, X_{t−1} + W_t); signal when X_t ≥ h. R_A > 1 detects deterioration (upper chart),
R_A < 1 detects improvement (lower chart, conventionally plotted as −X_t).

Without resets X_t = C_t − min(0, min_{s≤t} C_s) with C the cumulative sum of W, which makes one chart
(and thousands of simulated charts) a pair of numpy cumulative operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import FloatArray, IntArray, as_event, as_float, same_length

RiskSampler = Callable[[np.random.Generator, tuple[int, int]], Any]


def _risk(risk: Any, name: str = "risk") -> FloatArray:
    p = as_float(risk, name)
    if ((p <= 0) | (p >= 1)).any():
        raise ValueError(f"{name} must be predicted probabilities strictly between 0 and 1")
    return p


def _odds_ratio(value: float, name: str) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite odds ratio, got {value!r}")
    return v


def _threshold(value: float, name: str = "threshold") -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return v


def _weights(p: FloatArray, y: Any, r_a: float, r_0: float) -> FloatArray:
    base = np.log((1.0 - p + r_0 * p) / (1.0 - p + r_a * p))
    return base + y * np.log(r_a / r_0)


def cusum_weights(risk: Any, outcome: Any, odds_ratio: float, *, odds_ratio_null: float = 1.0) -> FloatArray:
    """Steiner (2000) log-likelihood-ratio CUSUM weights W_t (vectorised)."""
    p = _risk(risk)
    y = as_event(outcome, "outcome")
    same_length(risk=p, outcome=y)
    return _weights(
        p, y, _odds_ratio(odds_ratio, "odds_ratio"), _odds_ratio(odds_ratio_null, "odds_ratio_null")
    )


def _chart(w: FloatArray, h: float, reset: bool) -> tuple[FloatArray, IntArray]:
    """CUSUM path and signal indices; restarts the vectorised recursion after each signal if ``reset``."""
    x = np.empty_like(w)
    signals: list[int] = []
    start = 0
    while start < w.size:
        c = np.cumsum(w[start:])
        seg = c - np.minimum(np.minimum.accumulate(c), 0.0)
        hit = np.flatnonzero(seg >= h)
        if not reset:
            x[start:] = seg
            signals.extend((hit + start).tolist())
            break
        if hit.size == 0:
            x[start:] = seg
            break
        stop = start + int(hit[0])
        x[start : stop + 1] = seg[: hit[0] + 1]
        signals.append(stop)
        start = stop + 1  # X restarts from 0 after a signal
    return x, np.asarray(signals, dtype=np.int64)


@dataclass(frozen=True)
class CusumChart:
    """One CUSUM chart: values X_t (≥ 0) and 0-based indices where X_t ≥ threshold."""

    values: FloatArray
    signals: IntArray
    threshold: float
    odds_ratio: float


@dataclass(frozen=True)
class RACusumResult:
    """Upper (deterioration, R_A > 1) and lower (improvement, R_A < 1) risk-adjusted CUSUMs.

    ``lower.values`` are non-negative; plot them as −X_t below the axis.
    """

    upper: CusumChart
    lower: CusumChart
    weights_upper: FloatArray
    weights_lower: FloatArray


def ra_cusum(
    risk: Any,
    outcome: Any,
    *,
    odds_ratio: float = 2.0,
    threshold: float,
    reset: bool = True,
    lower_odds_ratio: float | None = None,
    lower_threshold: float | None = None,
) -> RACusumResult:
    """Steiner (2000) risk-adjusted CUSUM, cases in the order given.

    The upper chart tests R_A = ``odds_ratio`` (> 1); the lower chart R_A = ``lower_odds_ratio``
    (default 1/odds_ratio) with ``lower_threshold`` (default ``threshold``). After a signal the chart
    restarts at 0 when ``reset``.
    """
    p = _risk(risk)
    y = as_event(outcome, "outcome")
    same_length(risk=p, outcome=y)
    r_up = _odds_ratio(odds_ratio, "odds_ratio")
    if r_up <= 1:
        raise ValueError("odds_ratio of the upper chart must exceed 1 (use lower_odds_ratio for improvement)")
    r_lo = _odds_ratio(1.0 / r_up if lower_odds_ratio is None else lower_odds_ratio, "lower_odds_ratio")
    if r_lo >= 1:
        raise ValueError("lower_odds_ratio must be below 1")
    h_up = _threshold(threshold)
    h_lo = _threshold(h_up if lower_threshold is None else lower_threshold, "lower_threshold")
    w_up = _weights(p, y, r_up, 1.0)
    w_lo = _weights(p, y, r_lo, 1.0)
    xu, su = _chart(w_up, h_up, reset)
    xl, sl = _chart(w_lo, h_lo, reset)
    return RACusumResult(
        upper=CusumChart(xu, su, h_up, r_up),
        lower=CusumChart(xl, sl, h_lo, r_lo),
        weights_upper=w_up,
        weights_lower=w_lo,
    )


def bernoulli_cusum(
    outcome: Any, *, p0: float, p1: float, threshold: float, reset: bool = True
) -> CusumChart:
    """Unadjusted Bernoulli CUSUM for an acceptable rate p0 against p1 (learning curves without a risk model).

    Weights log(p1/p0) for a failure and log((1−p1)/(1−p0)) for a success; p1 > p0 detects deterioration,
    p1 < p0 improvement.
    """
    y = as_event(outcome, "outcome")
    for name, v in (("p0", p0), ("p1", p1)):
        if not 0.0 < float(v) < 1.0:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {v!r}")
    if p0 == p1:
        raise ValueError("p1 must differ from p0")
    h = _threshold(threshold)
    w = np.asarray(np.where(y == 1, np.log(p1 / p0), np.log((1.0 - p1) / (1.0 - p0))), dtype=np.float64)
    x, s = _chart(w, h, reset)
    odds = (p1 / (1.0 - p1)) / (p0 / (1.0 - p0))
    return CusumChart(x, s, h, float(odds))


def vlad(risk: Any, outcome: Any) -> FloatArray:
    """Variable life-adjusted display: cumulative expected − observed, Σ (p_t − y_t) ("net lives saved")."""
    p = _risk(risk)
    y = as_event(outcome, "outcome")
    same_length(risk=p, outcome=y)
    return np.cumsum(p - y)


def cusum_threshold(
    risk: Any,
    *,
    odds_ratio: float,
    false_alarm: float = 0.05,
    n_cases: int,
    n_sim: int = 10_000,
    seed: int | None = None,
    odds_ratio_null: float = 1.0,
) -> float:
    """Threshold h such that an in-control chart (true odds ratio = ``odds_ratio_null``) reaches h within
    ``n_cases`` cases with probability ``false_alarm`` (R package ``cusum`` approach, after Steiner 2000).

    ``risk`` is either an array of predicted risks (the registry's case mix; resampled with replacement)
    or a callable ``sampler(rng, shape) -> risks``. The simulation is vectorised over ``n_sim`` charts and
    deterministic for a given ``seed``. Returns the (1 − false_alarm) empirical quantile of the maximum
    chart value over the period.
    """
    r_a = _odds_ratio(odds_ratio, "odds_ratio")
    r_0 = _odds_ratio(odds_ratio_null, "odds_ratio_null")
    if r_a == r_0:
        raise ValueError("odds_ratio must differ from odds_ratio_null")
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(f"false_alarm must be strictly between 0 and 1, got {false_alarm!r}")
    if int(n_cases) < 1 or int(n_sim) < 1:
        raise ValueError("n_cases and n_sim must be positive integers")
    n_cases, n_sim = int(n_cases), int(n_sim)
    pool = None if callable(risk) else _risk(risk)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_sim, 2_000_000 // n_cases))  # bound memory at ~16 MB per array
    maxima = np.empty(n_sim)
    done = 0
    while done < n_sim:
        m = min(chunk, n_sim - done)
        if pool is None:
            p = _risk(np.asarray(risk(rng, (m, n_cases)), dtype=float).reshape(-1), "sampled risk")
            p = p.reshape(m, n_cases)
        else:
            p = pool[rng.integers(0, pool.size, size=(m, n_cases))]
        # in-control outcomes: odds multiplied by R_0 (1 = model correct)
        p_true = r_0 * p / (1.0 - p + r_0 * p)
        y = rng.random((m, n_cases)) < p_true
        c = np.cumsum(_weights(p, y, r_a, r_0), axis=1)
        x = c - np.minimum(np.minimum.accumulate(c, axis=1), 0.0)
        maxima[done : done + m] = x.max(axis=1)
        done += m
    return float(np.quantile(maxima, 1.0 - false_alarm))
