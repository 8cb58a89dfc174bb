"""Kaplan–Meier against R survival 3.8-6 published outputs (aml, ovarian, lung) and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pdva.stats import kaplan_meier, kaplan_meier_strata

from ._data import load

R_PRINT = 5e-4  # R prints 3-4 significant digits
FULL = 1e-8  # values given with 8+ decimals

VALUE_COLS = ["survival", "std_err", "lower", "upper"]


def _lung() -> pd.DataFrame:
    d = load("lung.csv").dropna(subset=["ph.ecog"])
    return d.assign(ph_ecog=d["ph.ecog"].astype(int))


@pytest.mark.parametrize(
    ("conf_type", "lower", "upper"),
    [("log", "lower", "upper"), ("log-log", "lower_loglog", "upper_loglog")],
)
def test_aml_by_group_matches_r(conf_type: str, lower: str, upper: str) -> None:
    d = load("aml.csv")
    exp = load("aml_km_by_group_expected.csv")
    got = kaplan_meier_strata(d.time, d.status, d.group, conf_type=conf_type).table
    assert list(got.group) == list(exp.group)
    np.testing.assert_array_equal(got.time, exp.time)
    np.testing.assert_array_equal(got.n_risk, exp.n_risk)
    np.testing.assert_array_equal(got.n_event, exp.n_event)
    for ours, theirs in [
        ("survival", "survival"),
        ("std_err", "std_err"),
        ("lower", lower),
        ("upper", upper),
    ]:
        np.testing.assert_allclose(got[ours], exp[theirs], atol=FULL, rtol=0, equal_nan=True, err_msg=ours)


def test_aml_survival_zero_has_undefined_se_and_ci() -> None:
    d = load("aml.csv")
    t = kaplan_meier_strata(d.time, d.status, d.group).table
    last = t[t.group == "Nonmaintained"].iloc[-1]
    assert last.survival == 0.0
    assert np.isnan(last.std_err) and np.isnan(last.lower) and np.isnan(last.upper)


def test_aml_pooled_eight_decimals() -> None:
    d = load("aml.csv")
    exp = load("aml_km_pooled_expected.csv")
    t = kaplan_meier(d.time, d.status).table
    np.testing.assert_array_equal(t.time, exp.time)
    np.testing.assert_allclose(t.survival, exp.survival, atol=FULL, rtol=0)


def test_ovarian_overall_and_by_rx() -> None:
    d = load("ovarian.csv")
    exp = load("ovarian_km_expected.csv")
    overall = exp[exp.rx == "all"]
    t = kaplan_meier(d.futime, d.fustat).table
    assert len(t) == len(overall)
    np.testing.assert_array_equal(t.n_risk, overall.n_risk)
    np.testing.assert_array_equal(t.n_event, overall.n_event)
    np.testing.assert_allclose(t[VALUE_COLS], overall[VALUE_COLS], atol=FULL, rtol=0)
    ll = kaplan_meier(d.futime, d.fustat, conf_type="log-log").table
    np.testing.assert_allclose(
        ll[["lower", "upper"]], overall[["lower_loglog", "upper_loglog"]], atol=FULL, rtol=0
    )

    by_rx = exp[exp.rx != "all"].reset_index(drop=True)
    s = kaplan_meier_strata(d.futime, d.fustat, d.rx).table
    assert s.rx.astype(str).tolist() == by_rx.rx.tolist()
    np.testing.assert_array_equal(s.n_risk, by_rx.n_risk)
    np.testing.assert_allclose(s[VALUE_COLS], by_rx[VALUE_COLS], atol=FULL, rtol=0)
    s_ll = kaplan_meier_strata(d.futime, d.fustat, d.rx, conf_type="log-log").table
    np.testing.assert_allclose(
        s_ll[["lower", "upper"]], by_rx[["lower_loglog", "upper_loglog"]], atol=FULL, rtol=0
    )


def test_ovarian_median_is_638() -> None:
    d = load("ovarian.csv")
    assert kaplan_meier(d.futime, d.fustat).median().median == 638


def test_lung_landmarks_match_r_summary_times() -> None:
    """R summary(fit, times=): n.risk = #{T >= t}, n.event in (previous t, t], log CI; no row past follow-up."""
    d = _lung()
    exp = load("lung_km_at_expected.csv")
    times = [30 * i for i in range(1, 12)] + [365, 730, 1095]
    got = kaplan_meier_strata(d.time, d.status, d.ph_ecog).at(times)
    got = got[got.ph_ecog.isin([0, 1, 2])].reset_index(drop=True)
    assert 1095 not in set(got.time)
    assert len(got) == len(exp) == 39
    np.testing.assert_array_equal(got.ph_ecog, exp.ph_ecog)
    np.testing.assert_array_equal(got.time, exp.time)
    np.testing.assert_array_equal(got.n_risk, exp.n_risk)
    np.testing.assert_array_equal(got.n_event, exp.n_event)
    np.testing.assert_allclose(got[VALUE_COLS], exp[VALUE_COLS], atol=R_PRINT, rtol=0)


def test_lung_at_risk_counts_ties_on_tick() -> None:
    """Subjects with T exactly on a tick are at risk there (lifelines' add_at_risk_counts gets 44 and 32)."""
    d = _lung()
    at = kaplan_meier(d.time[d.ph_ecog == 0], d.status[d.ph_ecog == 0]).at([240, 300])
    assert at.n_risk.tolist() == [45, 33]


def test_medians_match_r() -> None:
    exp = load("km_median_expected.csv")
    aml = load("aml.csv")
    lung = _lung()
    got = pd.concat(
        [
            kaplan_meier_strata(aml.time, aml.status, aml.group).median().assign(dataset="aml"),
            kaplan_meier_strata(lung.time, lung.status, {"group": lung.ph_ecog.astype(str)})
            .median()
            .assign(dataset="lung"),
        ],
        ignore_index=True,
    )
    assert got.group.tolist() == exp.group.astype(str).tolist()
    np.testing.assert_array_equal(got.n, exp.n)
    np.testing.assert_array_equal(got.n_event, exp.n_event)
    np.testing.assert_allclose(
        got[["median", "lower", "upper"]], exp[["median", "lower", "upper"]], equal_nan=True
    )


def test_median_single_sample_returns_tuple() -> None:
    d = load("aml.csv")
    m = kaplan_meier(d.time[d.group == "Maintained"], d.status[d.group == "Maintained"]).median()
    assert (m.median, m.lower) == (31, 18) and np.isnan(m.upper)
    med, lo, hi = m  # unpacks like R's (median, LCL, UCL)
    assert med == 31


def test_median_flat_at_half_uses_midpoint() -> None:
    """S = 0.5 exactly between t = 4 and t = 6: R reports the midpoint 5."""
    r = kaplan_meier([2, 4, 6, 8], [1, 1, 1, 1])
    np.testing.assert_allclose(r.table.survival, [0.75, 0.5, 0.25, 0.0], atol=1e-15)
    assert r.median().median == 5.0  # midpoint of 4 and 6
    end = kaplan_meier([2, 4, 6, 9], [1, 1, 0, 0])  # curve ends flat at 0.5; last follow-up 9
    assert end.median().median == (4 + 9) / 2


def test_median_not_reached_is_nan() -> None:
    r = kaplan_meier([1, 2, 3, 4], [1, 0, 0, 0])
    assert np.isnan(r.median().median)


def test_plain_conf_type_is_clipped() -> None:
    r = kaplan_meier([1, 2, 3, 4, 5], [1, 1, 0, 1, 0], conf_type="plain")
    t = r.table
    s, se = t.survival.to_numpy(), t.std_err.to_numpy()
    np.testing.assert_allclose(t.lower, np.clip(s - 1.959963984540054 * se, 0, 1))
    np.testing.assert_allclose(t.upper, np.clip(s + 1.959963984540054 * se, 0, 1))


def test_conf_level_changes_width() -> None:
    d = load("aml.csv")
    wide = kaplan_meier(d.time, d.status, conf_level=0.99).table
    narrow = kaplan_meier(d.time, d.status, conf_level=0.90).table
    assert (wide.lower <= narrow.lower).all() and (wide.upper >= narrow.upper).all()


def test_table_counts_and_censor_identity() -> None:
    d = load("aml.csv")
    t = kaplan_meier(d.time, d.status).table
    # censored in [t_j, t_{j+1}) so the risk set shrinks by events and censorings
    np.testing.assert_array_equal(
        t.n_risk.to_numpy()[1:], (t.n_risk - t.n_event - t.n_censor).to_numpy()[:-1]
    )
    assert t.n_event.sum() + t.n_censor.sum() + (len(d) - t.n_risk.iloc[0]) == len(d)


def test_at_before_first_event_and_extend() -> None:
    r = kaplan_meier([3, 5, 7], [1, 0, 1])
    at = r.at([0, 3, 100])
    assert at.time.tolist() == [0, 3]  # 100 is after the last observation (R extend=FALSE)
    first = at.iloc[0]
    assert (first.survival, first.std_err, first.lower, first.upper, first.n_risk) == (1, 0, 1, 1, 3)
    ext = r.at([100, 0, 3], extend=True)  # unsorted input is sorted, as R does
    assert ext.time.tolist() == [0, 3, 100]
    assert ext.n_risk.tolist() == [3, 3, 0]
    assert ext.n_event.tolist() == [0, 1, 1]
    assert ext.n_censor.tolist() == [0, 0, 1]


def test_loglog_undefined_at_one() -> None:
    at = kaplan_meier([3, 5], [1, 0], conf_type="log-log").at([1])
    assert at.survival.iloc[0] == 1.0 and np.isnan(at.lower.iloc[0])  # as R: NA where S = 1


def test_delayed_entry_hand_computed() -> None:
    """Left truncation: at risk at t when entry < t <= time."""
    time = [5, 6, 8, 10, 12]
    event = [1, 1, 0, 1, 1]
    entry = [0, 4, 0, 7, 6]
    t = kaplan_meier(time, event, entry=entry).table
    # t=5: all with entry<5<=T: ids 0,1,2 (id3 enters 7, id4 enters 6) -> n=3
    # t=6: ids 1,2 (id 4 enters at 6: not yet at risk) -> n=2
    # t=10: ids 3,4 -> n=2 ; t=12: id 4 -> n=1
    assert t.time.tolist() == [5, 6, 10, 12]
    assert t.n_risk.tolist() == [3, 2, 2, 1]
    expected = np.cumprod([1 - 1 / 3, 1 - 1 / 2, 1 - 1 / 2, 0.0])
    np.testing.assert_allclose(t.survival, expected)
    at = kaplan_meier(time, event, entry=entry).at([6, 7.5])
    assert at.n_risk.tolist() == [2, 3]


def test_delayed_entry_matches_lifelines() -> None:
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(4)
    n = 300
    entry = rng.integers(0, 50, n).astype(float)
    time = entry + rng.integers(1, 200, n)
    event = rng.random(n) < 0.6
    ours = kaplan_meier(time, event, entry=entry).table
    kmf = lifelines.KaplanMeierFitter().fit(time, event, entry=entry)
    sf = kmf.survival_function_at_times(ours.time.to_numpy()).to_numpy()
    np.testing.assert_allclose(ours.survival, sf, rtol=1e-10, atol=1e-12)


def test_all_censored_and_single_subject() -> None:
    r = kaplan_meier([1, 2, 3], [0, 0, 0])
    assert r.table.empty and list(r.table.columns)[0] == "time"
    assert np.isnan(r.median().median)
    assert r.at([2]).survival.tolist() == [1.0]
    one = kaplan_meier([4.0], [1])
    assert one.table.survival.tolist() == [0.0] and one.table.n_risk.tolist() == [1]
    one_c = kaplan_meier([4.0], [0])
    assert one_c.table.empty and one_c.at([4]).n_risk.tolist() == [1]


def test_event_at_time_zero() -> None:
    t = kaplan_meier([0, 0, 1, 2], [1, 0, 1, 0]).table
    assert t.time.tolist() == [0, 1] and t.n_risk.tolist() == [4, 2]
    np.testing.assert_allclose(t.survival, [0.75, 0.375])


def test_boolean_events_and_integer_times() -> None:
    a = kaplan_meier(np.array([1, 2, 3]), np.array([True, False, True])).table
    b = kaplan_meier([1.0, 2.0, 3.0], [1, 0, 1]).table
    pd.testing.assert_frame_equal(a, b)


def test_matches_lifelines_and_sksurv_on_random_data() -> None:
    lifelines = pytest.importorskip("lifelines")
    sk = pytest.importorskip("sksurv.nonparametric")
    rng = np.random.default_rng(11)
    time = rng.integers(0, 400, 2000).astype(float)
    event = rng.random(2000) < 0.7
    ours = kaplan_meier(time, event, conf_type="log-log").table
    x, s, ci = sk.kaplan_meier_estimator(event, time, conf_type="log-log")
    keep = np.isin(x, ours.time)
    np.testing.assert_allclose(ours.survival, s[keep], rtol=1e-12)
    np.testing.assert_allclose(ours.lower, ci[0][keep], rtol=1e-10)
    np.testing.assert_allclose(ours.upper, ci[1][keep], rtol=1e-10)
    kmf = lifelines.KaplanMeierFitter().fit(time, event)
    np.testing.assert_allclose(
        ours.survival, kmf.survival_function_at_times(ours.time.to_numpy()).to_numpy(), rtol=1e-12
    )
