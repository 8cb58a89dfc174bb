"""Proportion CIs against Newcombe (1998) and R binom::binom.confint; never Wald."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pdva.stats import proportion_ci, proportion_ci_strata

from ._data import load


def test_reference_values() -> None:
    exp = load("proportion_ci_expected.csv")
    for row in exp.itertuples():
        tol = 5e-5 if row.source.startswith("Newcombe") else 1e-9  # 4 dp vs full precision
        ci = proportion_ci(row.x, row.n, method=row.method)
        assert ci.lower == pytest.approx(row.lower, abs=tol), (row.x, row.n, row.method)
        assert ci.upper == pytest.approx(row.upper, abs=tol), (row.x, row.n, row.method)


def test_vectorised_equals_scalar() -> None:
    x = np.array([0, 1, 5, 19, 20])
    for method in ("wilson", "wilson_cc", "clopper_pearson", "jeffreys"):
        vec = proportion_ci(x, 20, method=method)
        assert isinstance(vec.lower, np.ndarray) and vec.lower.shape == (5,)
        for i, xi in enumerate(x):
            one = proportion_ci(int(xi), 20, method=method)
            assert isinstance(one.lower, float)
            assert (one.lower, one.upper) == (vec.lower[i], vec.upper[i])


def test_default_is_wilson_not_wald() -> None:
    ci = proportion_ci(0, 20)
    assert ci.method == "wilson" and ci.lower == 0 and ci.upper == pytest.approx(0.1611, abs=5e-5)


def test_against_scipy_for_many_values() -> None:
    n = 37
    x = np.arange(n + 1)
    ours = {m: proportion_ci(x, n, method=m) for m in ("wilson", "wilson_cc", "clopper_pearson")}
    for k in x:
        bt = stats.binomtest(int(k), n)
        for m, sm in (("wilson", "wilson"), ("wilson_cc", "wilsoncc"), ("clopper_pearson", "exact")):
            ref = bt.proportion_ci(method=sm)
            assert ours[m].lower[k] == pytest.approx(ref.low, abs=1e-12)
            assert ours[m].upper[k] == pytest.approx(ref.high, abs=1e-12)


def test_jeffreys_equal_tailed_beta() -> None:
    ci = proportion_ci([0, 3, 10], 10, method="jeffreys")
    assert ci.lower[0] == 0 and ci.upper[2] == 1
    assert ci.lower[1] == pytest.approx(stats.beta.ppf(0.025, 3.5, 7.5))
    assert ci.upper[1] == pytest.approx(stats.beta.ppf(0.975, 3.5, 7.5))


def test_bounds_contain_estimate() -> None:
    x = np.arange(0, 51)
    for method in ("wilson", "wilson_cc", "clopper_pearson", "jeffreys"):
        ci = proportion_ci(x, 50, method=method)
        assert (ci.lower <= ci.estimate).all() and (ci.estimate <= ci.upper).all()
        assert (ci.lower >= 0).all() and (ci.upper <= 1).all()


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="0 <= x <= n"):
        proportion_ci(5, 4)
    with pytest.raises(ValueError, match="n must be positive"):
        proportion_ci(0, 0)
    with pytest.raises(ValueError, match="method must be one of"):
        proportion_ci(1, 4, method="wald")
    with pytest.raises(ValueError, match="conf_level"):
        proportion_ci(1, 4, conf_level=95)
    with pytest.raises(ValueError, match="missing"):
        proportion_ci([1, np.nan], 4)


def test_strata_counts_per_group() -> None:
    site = np.array(["b", "a", "b", "a", "a", "c"])
    outcome = np.array([1, 0, 1, 1, 0, 0])
    out = proportion_ci_strata(outcome, site)
    assert out.group.tolist() == ["a", "b", "c"]
    assert out.x.tolist() == [1, 2, 0] and out.n.tolist() == [3, 2, 1]
    ref = proportion_ci(np.array([1, 2, 0]), np.array([3, 2, 1]))
    np.testing.assert_array_equal(out.lower, ref.lower)
