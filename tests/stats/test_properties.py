"""Hypothesis property tests: monotonicity, additivity of CIFs, funnel brackets, row-order invariance,
stratified = per-group."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pdva.stats import (
    cumulative_incidence,
    cumulative_incidence_strata,
    funnel_limits,
    kaplan_meier,
    kaplan_meier_strata,
    proportion_ci,
)

SETTINGS = settings(max_examples=60, deadline=None)

# integer-valued times give many ties (registry follow-up in days); a few float draws check the rest
times_st = st.one_of(
    st.lists(st.integers(0, 15).map(float), min_size=1, max_size=60),
    st.lists(st.floats(0, 100, allow_nan=False, allow_infinity=False), min_size=1, max_size=40),
)


@st.composite
def survival_data(draw: st.DrawFn, max_cause: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    time = np.array(draw(times_st))
    n = time.size
    cause = np.array(draw(st.lists(st.integers(0, max_cause), min_size=n, max_size=n)))
    group = np.array(draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n)))
    return time, cause, group


@SETTINGS
@given(survival_data())
def test_km_is_non_increasing_in_unit_interval(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    time, event, _ = data
    for conf_type in ("log", "log-log", "plain"):
        t = kaplan_meier(time, event, conf_type=conf_type).table
        s = t.survival.to_numpy()
        assert ((s >= 0) & (s <= 1)).all()
        assert (np.diff(s) <= 1e-15).all()
        ok = ~np.isnan(t.lower.to_numpy())
        assert (t.lower[ok] <= s[ok] + 1e-12).all() and (t.upper[ok] >= s[ok] - 1e-12).all()
        assert (t.lower[ok] >= 0).all() and (t.upper[ok] <= 1).all()


@SETTINGS
@given(survival_data(max_cause=3))
def test_cifs_plus_event_free_sum_to_one(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    time, cause, _ = data
    grid = np.unique(np.r_[time, time + 0.5])
    at = cumulative_incidence(time, cause, n_causes=3).at(grid, extend=True)
    total = at.pivot(index="time", columns="cause", values="cif").sum(axis=1).to_numpy()
    km = kaplan_meier(time, cause > 0).at(grid, extend=True).survival.to_numpy()
    np.testing.assert_allclose(total + km, 1.0, atol=1e-12)
    cif = at.pivot(index="time", columns="cause", values="cif").to_numpy()
    assert (np.diff(cif, axis=0) >= -1e-15).all()


@SETTINGS
@given(
    st.floats(0.01, 0.99),
    st.lists(st.integers(1, 100_000), min_size=1, max_size=20),
    st.sampled_from(["normal", "arcsine", "exact_binomial"]),
)
def test_proportion_funnel_limits_bracket_target(target: float, n: list[int], method: str) -> None:
    lim = funnel_limits(target, n, method=method)
    lo99, lo95 = lim["limit_0.001"].to_numpy(), lim["limit_0.025"].to_numpy()
    hi95, hi99 = lim["limit_0.975"].to_numpy(), lim["limit_0.999"].to_numpy()
    assert (lo99 <= lo95 + 1e-12).all() and (lo95 <= target + 1e-12).all()
    assert (hi95 >= target - 1e-12).all() and (hi99 >= hi95 - 1e-12).all()


@SETTINGS
@given(
    st.floats(0.2, 5.0),
    st.lists(st.floats(0.5, 5000), min_size=1, max_size=20),
    st.sampled_from(["poisson_ratio", "log_ratio", "sqrt_ratio"]),
)
def test_ratio_funnel_limits_bracket_target(target: float, e: list[float], method: str) -> None:
    lim = funnel_limits(target, e, method=method)
    assert (lim["limit_0.025"] <= target * (1 + 1e-12)).all()
    assert (lim["limit_0.975"] >= target * (1 - 1e-12)).all()


@SETTINGS
@given(survival_data(max_cause=2), st.randoms(use_true_random=False))
def test_row_order_does_not_change_results(data: tuple[np.ndarray, np.ndarray, np.ndarray], rnd) -> None:  # type: ignore[no-untyped-def]
    time, cause, group = data
    perm = np.array(rnd.sample(range(time.size), time.size))
    event = (cause > 0).astype(int)
    pd.testing.assert_frame_equal(
        kaplan_meier(time, event).table, kaplan_meier(time[perm], event[perm]).table
    )
    pd.testing.assert_frame_equal(
        kaplan_meier_strata(time, event, group).table,
        kaplan_meier_strata(time[perm], event[perm], group[perm]).table,
    )
    pd.testing.assert_frame_equal(
        cumulative_incidence(time, cause, n_causes=2).table,
        cumulative_incidence(time[perm], cause[perm], n_causes=2).table,
    )
    pd.testing.assert_frame_equal(
        cumulative_incidence_strata(time, cause, group, n_causes=2).at([1, 5, 10]),
        cumulative_incidence_strata(time[perm], cause[perm], group[perm], n_causes=2).at([1, 5, 10]),
    )


@SETTINGS
@given(survival_data(max_cause=2))
def test_stratified_equals_per_group(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    time, cause, group = data
    event = (cause > 0).astype(int)
    km = kaplan_meier_strata(time, event, group)
    cif = cumulative_incidence_strata(time, cause, group, n_causes=2)
    grid = [0, 2.5, 7, 14]
    km_at = km.at(grid, extend=True)
    cif_at = cif.at(grid, extend=True)
    for g in np.unique(group):
        m = group == g
        ref = kaplan_meier(time[m], event[m])
        got = km.table[km.table.group == g].drop(columns="group").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, ref.table, rtol=1e-12, atol=1e-14)
        got_at = km_at[km_at.group == g].drop(columns="group").reset_index(drop=True)
        pd.testing.assert_frame_equal(got_at, ref.at(grid, extend=True), rtol=1e-12, atol=1e-14)
        ref_c = cumulative_incidence(time[m], cause[m], n_causes=2)
        got_c = cif.table[cif.table.group == g].drop(columns="group").reset_index(drop=True)
        pd.testing.assert_frame_equal(got_c, ref_c.table, rtol=1e-9, atol=1e-14)
        got_ca = cif_at[cif_at.group == g].drop(columns="group").reset_index(drop=True)
        pd.testing.assert_frame_equal(got_ca, ref_c.at(grid, extend=True), rtol=1e-9, atol=1e-14)


@SETTINGS
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_proportion_intervals_contain_estimate(xn: tuple[int, int]) -> None:
    x, n = xn
    for method in ("wilson", "wilson_cc", "clopper_pearson", "jeffreys"):
        ci = proportion_ci(x, n, method=method)
        assert 0 <= ci.lower <= ci.estimate <= ci.upper <= 1


@SETTINGS
@given(survival_data(max_cause=2))
def test_counting_and_sorting_paths_agree(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Integer-valued times are counted into bins, others sorted: shifting by 0.5 switches path."""
    time, cause, group = data
    time = np.floor(time)
    event = (cause > 0).astype(int)
    shifted = time + 0.5

    def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
        b = b.assign(time=b.time - 0.5)
        pd.testing.assert_frame_equal(a, b, rtol=1e-13, atol=1e-15)

    same(kaplan_meier(time, event).table, kaplan_meier(shifted, event).table)
    same(kaplan_meier_strata(time, event, group).table, kaplan_meier_strata(shifted, event, group).table)
    same(
        kaplan_meier_strata(time, event, group).at([0, 3, 7], extend=True),
        kaplan_meier_strata(shifted, event, group).at([0.5, 3.5, 7.5], extend=True),
    )
    same(
        cumulative_incidence_strata(time, cause, group, n_causes=2).table,
        cumulative_incidence_strata(shifted, cause, group, n_causes=2).table,
    )
    entry = np.maximum(time - 3, 0) * (cause == 1)
    fine = entry < time
    if not fine.any():
        return
    same(
        kaplan_meier(time[fine], event[fine], entry=entry[fine]).table,
        kaplan_meier(shifted[fine], event[fine], entry=entry[fine] + 0.5).table,
    )
    same(
        kaplan_meier_strata(time[fine], event[fine], group[fine], entry=entry[fine]).table,
        kaplan_meier_strata(shifted[fine], event[fine], group[fine], entry=entry[fine] + 0.5).table,
    )
