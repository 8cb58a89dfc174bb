"""Funnel limits and flags: PHE/UKHSA test data (100 limit rows, 303 flags), FunnelPlotR Poisson ratio limits,
Spiegelhalter exact-binomial interpolation and over-dispersion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pdva.stats import funnel_flags, funnel_limits, overdispersion

from ._data import load

PHE_FLAGS = {
    ("high", "high"): "High (0.001)",
    ("high", "within"): "High (0.025)",
    ("low", "low"): "Low (0.001)",
    ("low", "within"): "Low (0.025)",
    ("within", "within"): "Not significant",
}


def _phe_target() -> float:
    i = load("phe_testdata_funnel_prop_inputs.csv")
    return float(i.numerator.sum() / i.denominator.sum())


def test_phe_baseline() -> None:
    assert _phe_target() == pytest.approx(0.8064244785714955, abs=1e-15)


def test_phe_all_100_limit_rows() -> None:
    out = load("phe_testdata_funnel_prop_outputs.csv")
    lim = funnel_limits(_phe_target(), out.Population, method="normal") * 1
    pct = lim.filter(like="limit_") * 100
    # the file prints 6 decimals of a percentage
    np.testing.assert_allclose(pct["limit_0.025"], out.Lower2s0025limit, atol=1e-6, rtol=0)
    np.testing.assert_allclose(pct["limit_0.975"], out.Upper2s0025limit, atol=1e-6, rtol=0)
    np.testing.assert_allclose(pct["limit_0.001"], out.Lower3s0001limit, atol=1e-6, rtol=0)
    np.testing.assert_allclose(pct["limit_0.999"], out.Upper3s0001limit, atol=1e-6, rtol=0)
    np.testing.assert_allclose(lim.target * 100, out.Baseline, atol=1e-6)
    assert len(out) == 100


def test_phe_all_303_flags() -> None:
    i = load("phe_testdata_funnel_prop_inputs.csv")
    f = funnel_flags(i.numerator, i.denominator, method="normal")
    labels = [PHE_FLAGS[(a, b)] for a, b in zip(f.flag_95, f.flag_998, strict=True)]
    assert len(labels) == 303
    mismatches = [(a, x, y) for a, x, y in zip(i.Area, labels, i.significance, strict=True) if x != y]
    assert mismatches == []
    counts = pd.Series(labels).value_counts().to_dict()
    assert counts == {
        "High (0.001)": 168,
        "Low (0.001)": 92,
        "Not significant": 32,
        "High (0.025)": 10,
        "Low (0.025)": 1,
    }


def test_phe_example_z_scores() -> None:
    i = load("phe_testdata_funnel_prop_inputs.csv")
    f = funnel_flags(i.numerator, i.denominator)
    z = dict(zip(i.Area, f.z, strict=True))
    assert z["New Forest PCT"] == pytest.approx(15.130, abs=5e-4)
    assert z["Norwich PCT"] == pytest.approx(-12.202, abs=5e-4)
    assert z["West Norfolk PCT"] == pytest.approx(2.334, abs=5e-4)


def test_poisson_ratio_limits() -> None:
    exp = load("funnel_poisson_ratio_expected.csv")
    lim = funnel_limits(1.0, exp.expected, method="poisson_ratio")
    for ours, theirs in [
        ("limit_0.025", "lower_95"),
        ("limit_0.975", "upper_95"),
        ("limit_0.001", "lower_998"),
        ("limit_0.999", "upper_998"),
    ]:
        np.testing.assert_allclose(lim[ours], exp[theirs], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("theta", "n", "expected"),
    [  # research/stats.md V9c (DERIVED regression values, % to 2 dp; unclipped -1.61 is clipped to 0)
        (0.54, 20, (16.86, 29.59, 73.41, 84.51)),
        (0.54, 50, (31.09, 39.04, 66.80, 74.33)),
        (0.54, 100, (38.07, 43.68, 63.24, 68.74)),
        (0.54, 200, (42.82, 46.82, 60.64, 64.55)),
        (0.10, 50, (0.0, 1.39, 17.97, 24.01)),
        (0.10, 100, (1.42, 4.04, 15.77, 19.84)),
    ],
)
def test_exact_binomial_interpolation(theta: float, n: int, expected: tuple[float, ...]) -> None:
    lim = funnel_limits(theta, [n], method="exact_binomial")
    got = lim.filter(like="limit_").to_numpy()[0] * 100
    np.testing.assert_allclose(got, expected, atol=0.005 + 1e-9)


def test_exact_binomial_phe_baseline_row() -> None:
    lim = funnel_limits(0.8064244786, [75], method="exact_binomial")
    np.testing.assert_allclose(
        lim.filter(like="limit_").to_numpy()[0] * 100, (64.7744, 70.6876, 88.5739, 92.8456), atol=5e-5
    )


def test_exact_binomial_spiegelhalter_formula() -> None:
    theta, n, p = 0.3, 40, 0.975
    r = stats.binom.ppf(p, n, theta)
    a = (stats.binom.cdf(r, n, theta) - p) / (stats.binom.pmf(r, n, theta))
    lim = funnel_limits(theta, [n], method="exact_binomial", probs=[p])
    assert lim["limit_0.975"].iloc[0] == pytest.approx((r - a) / n, abs=1e-12)


def test_limits_bracket_target_and_narrow_with_n() -> None:
    n = np.array([5, 20, 100, 1000, 10000])
    for method, target in (
        ("normal", 0.2),
        ("arcsine", 0.2),
        ("exact_binomial", 0.2),
        ("poisson_ratio", 1.0),
        ("log_ratio", 1.0),
        ("sqrt_ratio", 1.0),
    ):
        lim = funnel_limits(target, n, method=method)
        lo, hi = lim["limit_0.025"].to_numpy(), lim["limit_0.975"].to_numpy()
        assert (lo <= target).all() and (hi >= target).all(), method
        assert (np.diff(hi - lo) <= 1e-12).all(), method


def test_overdispersion_formulas() -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(50, 500, 40).astype(float)
    true_p = np.clip(0.3 + rng.normal(0, 0.06, 40), 0.01, 0.99)
    x = rng.binomial(n.astype(int), true_p).astype(float)
    od = overdispersion(x, n, method="normal")
    target = x.sum() / n.sum()
    s = np.sqrt(target * (1 - target) / n)
    z = (x / n - target) / s
    lo, hi = np.quantile(z, [0.1, 0.9])
    zw = np.clip(z, lo, hi)
    phi = np.mean(zw**2)
    w = 1 / s**2
    tau2 = max(0.0, (40 * phi - 39) / (w.sum() - (w**2).sum() / w.sum()))
    assert od.phi == pytest.approx(phi) and od.tau2 == pytest.approx(tau2)
    assert od.chi2 == pytest.approx(40 * phi)
    assert od.p_value == pytest.approx(stats.chi2.sf(40 * phi, 39))
    assert od.overdispersed

    plain = funnel_limits(target, n, method="normal")
    mult = funnel_limits(target, n, method="normal", overdispersion=od, od_model="multiplicative")
    add = funnel_limits(target, n, method="normal", overdispersion=od, od_model="additive")
    z975 = stats.norm.ppf(0.975)
    np.testing.assert_allclose(mult["limit_0.975"], np.clip(target + z975 * s * np.sqrt(phi), 0, 1))
    np.testing.assert_allclose(add["limit_0.975"], np.clip(target + z975 * np.sqrt(s**2 + tau2), 0, 1))
    assert (add["limit_0.975"] >= plain["limit_0.975"]).all()
    flags = funnel_flags(x, n, method="normal", overdispersion=od)
    plain_flags = funnel_flags(x, n, method="normal")
    assert (flags.flag_95 != "within").sum() <= (plain_flags.flag_95 != "within").sum()


def test_overdispersion_ratio_scales() -> None:
    e = np.array([10.0, 20, 40, 80, 160, 320, 25, 60])
    o = np.array([14.0, 15, 55, 70, 200, 300, 20, 90])
    for method in ("log_ratio", "sqrt_ratio"):
        od = overdispersion(o, e, method=method)
        lim = funnel_limits(1.0, e, method=method, overdispersion=od)
        assert (lim["limit_0.025"] < 1).all() and (lim["limit_0.975"] > 1).all()


def test_overdispersion_needs_normal_type_method() -> None:
    od = overdispersion([5, 8, 12, 3], [50, 60, 70, 40])
    with pytest.raises(ValueError, match="normal-type method"):
        funnel_limits(0.1, [50], method="exact_binomial", overdispersion=od)
    with pytest.raises(ValueError, match="estimated for method"):
        funnel_limits(0.1, [50], method="arcsine", overdispersion=od)


def test_ratio_flags() -> None:
    f = funnel_flags([30, 10, 20], [15, 20, 20], method="poisson_ratio")
    assert f.value.tolist() == [2.0, 0.5, 1.0]
    assert f.flag_95.tolist() == ["high", "low", "within"]


def test_invalid_funnel_inputs() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        funnel_limits(1.2, [10], method="normal")
    with pytest.raises(ValueError, match="integer denominators"):
        funnel_limits(0.2, [10.5], method="exact_binomial")
    with pytest.raises(ValueError, match="method must be one of"):
        funnel_limits(0.2, [10], method="wilson")
    with pytest.raises(ValueError, match="different lengths"):
        funnel_flags([1, 2], [10], method="normal")
    with pytest.raises(ValueError, match="must not exceed n"):
        funnel_flags([11], [10], method="normal")


def test_exact_flags_use_mid_p_not_interpolated_limits() -> None:
    # 5/5 at θ0 = 0.5: P(X = 5) = 1/32, mid-p 1/64 -> high at 95% but not at 99.8%
    f = funnel_flags([5], [5], 0.5, method="exact_binomial")
    assert f.p_high.iloc[0] == pytest.approx(1 / 64)
    assert (f.flag_95.iloc[0], f.flag_998.iloc[0]) == ("high", "within")
    # O = 0 with E = 0.5 is entirely plausible (P = 0.61), although 0 lies below the Byar lower limit
    g = funnel_flags([0], [0.5], method="poisson_ratio")
    assert g.lower_998.iloc[0] > 0 and g.flag_998.iloc[0] == "within"
    assert g.p_low.iloc[0] == pytest.approx(0.5 * np.exp(-0.5))


def test_exact_binomial_limits_never_cross_target() -> None:
    lim = funnel_limits(0.98, [1, 2, 3], method="exact_binomial")
    assert (lim["limit_0.975"] >= 0.98).all() and (lim["limit_0.025"] <= 0.98).all()


def test_normal_flags_match_limit_comparison() -> None:
    rng = np.random.default_rng(8)
    n = rng.integers(20, 2000, 300).astype(float)
    x = rng.binomial(n.astype(int), 0.3).astype(float)
    f = funnel_flags(x, n, 0.3)
    outside_hi = f.value > f.upper_95
    outside_lo = f.value < f.lower_95
    assert ((f.flag_95 == "high") == outside_hi).all() and ((f.flag_95 == "low") == outside_lo).all()
