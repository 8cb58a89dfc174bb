"""Risk-adjusted CUSUM (Steiner 2000), Bernoulli CUSUM, VLAD and the simulated threshold."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from pdva.stats import bernoulli_cusum, cusum_threshold, cusum_weights, ra_cusum, vlad

from ._data import load


def test_steiner_weights() -> None:
    exp = load("cusum_steiner_weights_expected.csv")
    risk = expit(exp.intercept + exp.slope * exp.parsonnet)
    for row, p in zip(exp.itertuples(), risk, strict=True):
        w = cusum_weights([p], [row.died], row.odds_ratio_alt)[0]
        assert w == pytest.approx(row.weight, abs=row.tolerance), row


def test_single_patient_upper_and_lower() -> None:
    """vlad racusum_scores: Parsonnet 19 survivor -> s1 = 0, s1l = 0.05083 (no reset)."""
    p = expit(-3.67 + 0.077 * 19)
    res = ra_cusum([p], [0], odds_ratio=2.0, threshold=4.5, reset=False)
    assert res.upper.values[0] == 0.0
    assert res.lower.values[0] == pytest.approx(0.05083, abs=5e-5)


def _brute(w: np.ndarray, h: float, reset: bool) -> tuple[np.ndarray, list[int]]:
    x, out, sig = 0.0, [], []
    for i, wi in enumerate(w):
        x = max(0.0, x + wi)
        out.append(x)
        if x >= h:
            sig.append(i)
            if reset:
                x = 0.0
    return np.array(out), sig


@pytest.mark.parametrize("reset", [True, False])
def test_chart_equals_recursion(reset: bool) -> None:
    rng = np.random.default_rng(7)
    risk = expit(-3.68 + 0.077 * rng.gamma(2.0, 6.0, 3000))
    y = rng.random(3000) < np.minimum(risk * 1.6, 0.99)
    res = ra_cusum(risk, y, odds_ratio=2.0, threshold=2.5, reset=reset)
    for chart, w in ((res.upper, res.weights_upper), (res.lower, res.weights_lower)):
        x, sig = _brute(w, chart.threshold, reset)
        np.testing.assert_allclose(chart.values, x, atol=1e-9)
        assert chart.signals.tolist() == sig
    assert res.upper.signals.size > 0


def test_bernoulli_cusum_weights() -> None:
    y = np.array([0, 0, 1, 1, 1, 0, 1, 1])
    chart = bernoulli_cusum(y, p0=0.1, p1=0.2, threshold=1.5)
    w = np.where(y == 1, np.log(2.0), np.log(0.8 / 0.9))
    x, sig = _brute(w, 1.5, True)
    np.testing.assert_allclose(chart.values, x)
    assert chart.signals.tolist() == sig
    # constant-risk RA-CUSUM with the same odds ratio is the same chart
    odds = (0.2 / 0.8) / (0.1 / 0.9)
    same = ra_cusum(np.full(y.size, 0.1), y, odds_ratio=odds, threshold=1.5)
    np.testing.assert_allclose(same.upper.values, chart.values, atol=1e-12)


def test_vlad_increments() -> None:
    """Steiner 2014 p234 (vlad calceo): O - E = 0.975 / -0.025 at Parsonnet 0, 0.458 / -0.542 at 50."""
    p0, p50 = expit(-3.68), expit(-3.68 + 0.077 * 50)
    v = vlad([p0, p0, p50, p50], [1, 0, 1, 0])
    inc = -np.diff(v, prepend=0.0)  # VLAD is expected - observed
    np.testing.assert_allclose(inc, [0.975, -0.025, 0.458, -0.542], atol=5e-4)


def test_threshold_deterministic_and_calibrated() -> None:
    rng = np.random.default_rng(2)
    pool = expit(-3.68 + 0.077 * rng.gamma(2.0, 5.0, 500))
    h1 = cusum_threshold(pool, odds_ratio=2.0, false_alarm=0.05, n_cases=150, n_sim=4000, seed=42)
    h2 = cusum_threshold(pool, odds_ratio=2.0, false_alarm=0.05, n_cases=150, n_sim=4000, seed=42)
    assert h1 == h2 > 0
    # independent check: in-control charts with h1 signal in about 5% of runs
    check = np.random.default_rng(99)
    hits = 0
    runs = 3000
    for _ in range(runs):
        p = pool[check.integers(0, pool.size, 150)]
        y = check.random(150) < p
        hits += ra_cusum(p, y, odds_ratio=2.0, threshold=h1, reset=False).upper.signals.size > 0
    assert hits / runs == pytest.approx(0.05, abs=0.015)


def test_threshold_with_sampler_and_improvement_chart() -> None:
    def sampler(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        return rng.uniform(0.02, 0.3, size=shape)

    h_up = cusum_threshold(sampler, odds_ratio=2.0, n_cases=100, n_sim=2000, seed=1)
    h_lo = cusum_threshold(sampler, odds_ratio=0.5, n_cases=100, n_sim=2000, seed=1)
    assert h_up > 0 and h_lo > 0
    assert cusum_threshold(sampler, odds_ratio=2.0, false_alarm=0.01, n_cases=100, n_sim=2000, seed=1) > h_up


def test_invalid_cusum_inputs() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        cusum_weights([0.0], [1], 2.0)
    with pytest.raises(ValueError, match="0 \\(censored\\) or 1"):
        ra_cusum([0.1], [2], threshold=4)
    with pytest.raises(ValueError, match="must exceed 1"):
        ra_cusum([0.1], [1], odds_ratio=0.5, threshold=4)
    with pytest.raises(ValueError, match="threshold must be positive"):
        ra_cusum([0.1], [1], threshold=0)
    with pytest.raises(ValueError, match="different lengths"):
        vlad([0.1, 0.2], [1])
    with pytest.raises(ValueError, match="false_alarm"):
        cusum_threshold([0.1], odds_ratio=2, false_alarm=1.5, n_cases=10)
