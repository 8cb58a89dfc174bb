"""Comparison of survival at a landmark with a performance goal (PG), e.g. PROMISE II: 6-month
amputation-free survival against 54% (research/stats.md §1.7).

Frequentist: H0 S(t) ≤ PG vs H1 S(t) > PG, Wald test on the log(−log) scale with the Greenwood SD σ of log Ŝ:
    z = [log(−log PG) − log(−log Ŝ)] / (σ / |log Ŝ|),  one-sided p = 1 − Φ(z);
success iff the one-sided (1 − α) lower log-log bound exceeds PG (equivalently p < α).

Bayesian (complete follow-up, no censoring): posterior P(θ > PG | x, n) under a Beta(a, b) prior,
1 − I_PG(a + x, b + n − x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .survival import KaplanMeierResult


@dataclass(frozen=True)
class PerformanceGoalResult:
    """Log-log Wald comparison of Ŝ(at) with the goal."""

    at: float
    goal: float
    alpha: float
    estimate: float
    std_err: float  # on the survival scale (Greenwood)
    lower: float  # one-sided (1 − alpha) lower bound, log-log transform
    z: float
    p_value: float
    passed: bool
    n_risk: int


@dataclass(frozen=True)
class BayesGoalResult:
    """Beta-binomial posterior for a success rate compared with a goal."""

    goal: float
    successes: int
    n: int
    prior: tuple[float, float]
    posterior: tuple[float, float]
    posterior_mean: float
    probability: float  # P(θ > goal | data)
    threshold: float
    passed: bool


def _goal(goal: float) -> float:
    g = float(goal)
    if not 0.0 < g < 1.0:
        raise ValueError(f"goal must be a probability strictly between 0 and 1, got {goal!r}")
    return g


def performance_goal(
    km_result: KaplanMeierResult, at: float, goal: float, alpha: float = 0.025
) -> PerformanceGoalResult:
    """One-sided log-log test that survival at ``at`` exceeds ``goal`` (PROMISE II style).

    ``km_result`` is a ``kaplan_meier`` fit (its conf_type does not matter; the test always uses log-log).
    """
    if not isinstance(km_result, KaplanMeierResult):
        raise ValueError("km_result must be a KaplanMeierResult from kaplan_meier()")
    g = _goal(goal)
    if not 0.0 < float(alpha) < 0.5:
        raise ValueError(f"alpha must be a one-sided level in (0, 0.5), got {alpha!r}")
    row = km_result.at([at])
    if row.empty:
        raise ValueError(f"no follow-up reaches time {at}: survival there is not estimable")
    s = float(row["survival"].iloc[0])
    se = float(row["std_err"].iloc[0])
    n_risk = int(row["n_risk"].iloc[0])
    zq = float(stats.norm.isf(alpha))
    if s >= 1.0:  # no events yet: the log-log SE is undefined; the estimate is at the boundary
        return PerformanceGoalResult(float(at), g, float(alpha), s, 0.0, np.nan, np.inf, 0.0, False, n_risk)
    if s <= 0.0:
        return PerformanceGoalResult(float(at), g, float(alpha), s, np.nan, 0.0, -np.inf, 1.0, False, n_risk)
    sigma = se / s  # Greenwood SD of log S
    log_s = np.log(s)
    scale = sigma / abs(log_s)
    z = (np.log(-np.log(g)) - np.log(-log_s)) / scale
    p = float(stats.norm.sf(z))
    lower = float(np.exp(-np.exp(np.log(-log_s) + zq * scale)))
    return PerformanceGoalResult(
        float(at), g, float(alpha), s, se, lower, float(z), p, bool(lower > g), n_risk
    )


def performance_goal_bayes(
    successes: Any,
    n: Any,
    goal: float,
    prior: tuple[float, float] = (1.0, 1.0),
    threshold: float = 0.977,
) -> BayesGoalResult:
    """Posterior probability that the success rate exceeds ``goal`` (Beta prior, binomial likelihood).

    Use when every patient has complete follow-up to the landmark; ``threshold`` is the prespecified
    posterior probability for success (PROMISE II: 0.977).
    """
    g = _goal(goal)
    x, m = int(successes), int(n)
    if float(successes) != x or float(n) != m or m < 1 or not 0 <= x <= m:
        raise ValueError("successes and n must be integers with 0 <= successes <= n and n >= 1")
    a0, b0 = (float(prior[0]), float(prior[1]))
    if a0 <= 0 or b0 <= 0:
        raise ValueError("prior Beta parameters must be positive")
    a, b = a0 + x, b0 + m - x
    prob = float(stats.beta.sf(g, a, b))
    return BayesGoalResult(g, x, m, (a0, b0), (a, b), a / (a + b), prob, float(threshold), prob > threshold)
