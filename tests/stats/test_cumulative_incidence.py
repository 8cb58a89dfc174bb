"""Aalen–Johansen cumulative incidence: R testci exact fractions, BMT (time-0 events, tied causes),
cmprsk's variance (reference port of Gray's Fortran) and the delta method (sksurv Dinse_Approx)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from pdva.stats import cumulative_incidence, cumulative_incidence_strata, kaplan_meier

from ._data import load

FULL = 1e-8


def _wide(at: pd.DataFrame) -> pd.DataFrame:
    return at.pivot(index="time", columns="cause", values="cif")


def test_testci_exact_fractions() -> None:
    d = load("testci.csv")
    exp = load("testci_cif_expected.csv")
    at = cumulative_incidence(d.time, d.cause).at(exp.time)
    w = _wide(at)
    np.testing.assert_allclose(w[1], exp.cif_cause1, atol=1e-12)
    np.testing.assert_allclose(w[2], exp.cif_cause2, atol=1e-12)
    n_risk = at[at.cause == 1].n_risk.to_numpy()
    np.testing.assert_array_equal(n_risk, exp.n_risk)
    fractions = {
        2: (Fraction(1, 7), Fraction(0)),
        3: (Fraction(1, 7), Fraction(12, 35)),
        6: (Fraction(1, 7), Fraction(6, 7)),
    }
    for t, (f1, f2) in fractions.items():
        assert w.loc[t, 1] == pytest.approx(float(f1), abs=1e-15)
        assert w.loc[t, 2] == pytest.approx(float(f2), abs=1e-15)


def test_testci_sum_with_event_free_is_one() -> None:
    d = load("testci.csv")
    at = cumulative_incidence(d.time, d.cause).at([1, 2, 3, 5, 6])
    km = kaplan_meier(d.time, d.cause > 0).at([1, 2, 3, 5, 6])
    total = _wide(at).sum(axis=1).to_numpy() + km.survival.to_numpy()
    np.testing.assert_allclose(total, 1.0, atol=1e-14)
    # P(entry) of R's multistate fit = all-cause event-free
    np.testing.assert_allclose(km.survival, [1, 6 / 7, 18 / 35, 18 / 35, 0], atol=1e-15)


def _bmt_expected() -> pd.DataFrame:
    return load("bmt_cif_expected.csv")


@pytest.mark.parametrize("dis", ["0", "1", "all"])
def test_bmt_cif_with_time_zero_events_and_ties(dis: str) -> None:
    d = load("bmt.csv")
    exp = _bmt_expected()
    exp = exp[exp.dis.astype(str) == dis]
    if dis == "all":
        res = cumulative_incidence(d.ftime, d.status).table
    else:
        res = cumulative_incidence_strata(d.ftime, d.status, d.dis).table
        res = res[res.dis == int(dis)].drop(columns="dis")
    trm = res[res.cause == 1].reset_index(drop=True)
    rel = res[res.cause == 2].reset_index(drop=True)
    np.testing.assert_array_equal(trm.time, exp.time)
    np.testing.assert_array_equal(trm.n_risk, exp.n_risk)
    np.testing.assert_allclose(trm.cif, exp.cif_trm, atol=FULL, rtol=0)
    np.testing.assert_allclose(rel.cif, exp.cif_relapse, atol=FULL, rtol=0)


def test_bmt_lifelines_failure_cases_are_correct_here() -> None:
    """stats.md V6: correct AJ at t = 20 (lifelines dropped the time-0 event / jittered ties)."""
    d = load("bmt.csv")
    all_grp = d[d.dis == 0]
    at = cumulative_incidence(all_grp.ftime, all_grp.status).at([20])
    assert at[at.cause == 1].cif.iloc[0] == pytest.approx(0.1764706, abs=1e-7)
    at_all = cumulative_incidence(d.ftime, d.status).at([20])
    assert at_all[at_all.cause == 2].cif.iloc[0] == pytest.approx(0.4110148, abs=1e-7)
    assert at_all[at_all.cause == 1].cif.iloc[0] == pytest.approx(0.2728390, abs=1e-7)


def _cmprsk_cinc(
    y: np.ndarray, ic: np.ndarray, icc: np.ndarray
) -> tuple[list[float], list[float], list[float]]:
    """Line-by-line port of Gray's cmprsk Fortran ``cinc`` (sorted data); returns (times, F, var) at
    the cause-of-interest event times."""
    n = len(y)
    fk, f, v1, v2, v3 = 1.0, 0.0, 0.0, 0.0, 0.0
    out_t, out_f, out_v = [], [], []
    rs = n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and y[j + 1] == y[i]:
            j += 1
        nd1 = int(icc[i : j + 1].sum())
        nd2 = int(ic[i : j + 1].sum()) - nd1
        nd = nd1 + nd2
        if nd > 0:
            fkn = fk * (rs - nd) / rs
            if nd1 > 0:
                f = f + fk * nd1 / rs
            if nd2 > 0 and fkn > 0:
                t5 = 1.0 if nd2 <= 1 else 1 - (nd2 - 1.0) / (rs - 1.0)
                t6 = fk * fk * t5 * nd2 / (rs * rs)
                t3 = 1.0 / fkn
                t4 = f / fkn
                v1 += t4 * t4 * t6
                v2 += t3 * t4 * t6
                v3 += t3 * t3 * t6
            if nd1 > 0:
                t5 = 1.0 if nd1 <= 1 else 1 - (nd1 - 1.0) / (rs - 1.0)
                t6 = fk * fk * t5 * nd1 / (rs * rs)
                t3 = 1.0 / fkn if fkn > 0 else 0.0
                t4 = 1 + t3 * f
                v1 += t4 * t4 * t6
                v2 += t3 * t4 * t6
                v3 += t3 * t3 * t6
                out_t.append(float(y[i]))
                out_f.append(f)
                out_v.append(v1 + f * f * v3 - 2 * f * v2)
            fk = fkn
        rs = n - (j + 1)
        i = j + 1
    return out_t, out_f, out_v


@pytest.mark.parametrize(("seed", "ties"), [(0, True), (1, True), (2, True), (3, False), (4, False)])
def test_aalen_variance_equals_cmprsk(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    # days: many ties, including across causes (counting path); continuous: no ties (sorting path)
    time = rng.integers(0, 60, n).astype(float) if ties else rng.exponential(30.0, n)
    cause = rng.choice([0, 1, 2, 3], size=n, p=[0.2, 0.4, 0.3, 0.1])
    res = cumulative_incidence(time, cause, variance="aalen").table
    order = np.argsort(time, kind="stable")
    for k in (1, 2, 3):
        t, f, v = _cmprsk_cinc(time[order], (cause[order] > 0).astype(int), (cause[order] == k).astype(int))
        ours = res[(res.cause == k) & (res.n_event > 0)]
        np.testing.assert_array_equal(ours.time, t)
        np.testing.assert_allclose(ours.cif, f, rtol=1e-12)
        np.testing.assert_allclose(ours.std_err**2, v, rtol=1e-9, atol=1e-15)


def test_bmt_aalen_variance_equals_cmprsk_port() -> None:
    d = load("bmt.csv")
    res = cumulative_incidence(d.ftime, d.status).table
    order = np.argsort(d.ftime.to_numpy(), kind="stable")
    y = d.ftime.to_numpy()[order]
    st = d.status.to_numpy()[order]
    for k in (1, 2):
        _, f, v = _cmprsk_cinc(y, (st > 0).astype(int), (st == k).astype(int))
        ours = res[(res.cause == k) & (res.n_event > 0)]
        np.testing.assert_allclose(ours.cif, f, rtol=1e-12)
        np.testing.assert_allclose(ours.std_err**2, v, rtol=1e-10)


def test_delta_variance_equals_sksurv_dinse_approx() -> None:
    sk = pytest.importorskip("sksurv.nonparametric")
    rng = np.random.default_rng(5)
    n = 500
    time = rng.integers(0, 80, n).astype(float)
    cause = rng.choice([0, 1, 2], size=n, p=[0.3, 0.4, 0.3])
    x, cif, ci = sk.cumulative_incidence_competing_risks(
        cause, time, conf_type="log-log", var_type="Dinse_Approx"
    )
    at = cumulative_incidence(time, cause, variance="delta").at(x, extend=True)
    for k in (1, 2):
        sub = at[at.cause == k]
        np.testing.assert_allclose(sub.cif, cif[k], atol=1e-13)
        ok = (sub.cif > 0).to_numpy() & (sub.cif < 1).to_numpy() & np.isfinite(ci[k, 0])
        np.testing.assert_allclose(sub.lower.to_numpy()[ok], ci[k, 0][ok], rtol=1e-9)
        np.testing.assert_allclose(sub.upper.to_numpy()[ok], ci[k, 1][ok], rtol=1e-9)


def test_testci_loglog_ci_matches_sksurv_where_formulas_agree() -> None:
    """stats.md V4: sksurv Aalen log-log CIs; cmprsk and sksurv agree where no tail n = 1 term enters."""
    d = load("testci.csv")
    at = cumulative_incidence(d.time, d.cause).at([2, 3])
    c1 = at[at.cause == 1].iloc[0]
    c2 = at[(at.cause == 2) & (at.time == 3)].iloc[0]
    assert (c1.lower, c1.upper) == pytest.approx((0.00485, 0.4913), abs=5e-5)
    assert (c2.lower, c2.upper) == pytest.approx((0.03266, 0.71542), abs=5e-6)


def test_conf_types() -> None:
    d = load("bmt.csv")
    plain = cumulative_incidence(d.ftime, d.status, conf_type="plain").table
    log = cumulative_incidence(d.ftime, d.status, conf_type="log").table
    z = 1.959963984540054
    np.testing.assert_allclose(plain.lower, np.clip(plain.cif - z * plain.std_err, 0, 1))
    pos = log.cif > 0
    np.testing.assert_allclose(log.lower[pos], log.cif[pos] * np.exp(-z * log.std_err[pos] / log.cif[pos]))
    assert (log.upper[pos] <= 1).all()


def test_n_causes_pads_absent_causes_and_rejects_others() -> None:
    res = cumulative_incidence([1, 2, 3], [1, 0, 1], n_causes=3)
    assert sorted(res.table.cause.unique()) == [1, 2, 3]
    assert (res.table[res.table.cause == 3].cif == 0).all()
    with pytest.raises(ValueError, match="codes must be integers 0 \\(censored\\) or 1..2"):
        cumulative_incidence([1, 2, 3], [1, 3, 1], n_causes=2)


def test_all_censored_and_single_subject() -> None:
    res = cumulative_incidence([1, 2], [0, 0])
    assert res.table.empty
    assert res.at([1.5]).cif.tolist() == [0.0]
    one = cumulative_incidence([3.0], [2])
    t = one.table
    assert t[t.cause == 2].cif.tolist() == [1.0] and t[t.cause == 1].cif.tolist() == [0.0]


def test_at_counts_events_between_times() -> None:
    d = load("bmt.csv")
    at = cumulative_incidence(d.ftime, d.status).at([0, 5, 10, 100], extend=True)
    rel = at[at.cause == 2]
    cum = [int(((d.ftime <= t) & (d.status == 2)).sum()) for t in (0, 5, 10, 100)]
    assert rel.n_event.tolist() == list(np.diff(cum, prepend=0))
    assert rel.n_risk.tolist() == [int((d.ftime >= t).sum()) for t in (0, 5, 10, 100)]


@pytest.mark.parametrize("variance", ["aalen", "delta"])
def test_cgvhd_matches_sas_lifetest(variance: str) -> None:
    """stats.md V7: SAS PROC LIFETEST CIF with log-log CIs. cmprsk's Aalen variance reproduces SAS
    ERROR=AALEN to the printed 6 decimals (sksurv's Pintilie form differs by up to 3.7e-4)."""
    d = load("cgvhd.csv")
    exp = load("cgvhd_cif_expected.csv")
    exp = exp[exp.variance == variance]
    at = cumulative_incidence(d.ftime, d.status, variance=variance).at(sorted(set(exp.time)))
    for row in exp.itertuples():
        got = at[(at.cause == row.cause) & (at.time == row.time)].iloc[0]
        assert got.cif == pytest.approx(row.cif, abs=1e-6)
        assert got.lower == pytest.approx(row.lower, abs=1e-6)
        assert got.upper == pytest.approx(row.upper, abs=1e-6)


def _delta_variance_by_hand(time: np.ndarray, cause: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Dinse–Larson delta-method variance summed term by term (stats.md §1.3), O(times^2)."""
    ts = np.unique(time[cause > 0])
    n = np.array([(time >= t).sum() for t in ts], dtype=float)
    d = np.array([((time == t) & (cause > 0)).sum() for t in ts], dtype=float)
    dk = np.array([((time == t) & (cause == k)).sum() for t in ts], dtype=float)
    s_prev = np.cumprod(np.r_[1.0, 1 - d / n])[:-1]
    f = np.cumsum(s_prev * dk / n)
    var = np.empty(ts.size)
    for i in range(ts.size):
        total = 0.0
        for j in range(i + 1):
            diff = f[i] - f[j]
            if diff != 0:  # the n = d term enters only with a zero factor
                total += diff**2 * d[j] / (n[j] * (n[j] - d[j]))
            total += s_prev[j] ** 2 * dk[j] * (n[j] - dk[j]) / n[j] ** 3
            total -= 2 * diff * s_prev[j] * dk[j] / n[j] ** 2
        var[i] = total
    return ts, var


def test_delta_variance_by_hand_including_all_fail_last_time() -> None:
    """Where everyone left at the last time fails (n = d), the delta variance stays finite here; sksurv's
    Dinse_Approx then returns NaN and collapses every CI to the point estimate."""
    rng = np.random.default_rng(12)
    time = rng.integers(0, 25, 120).astype(float)
    cause = rng.choice([0, 1, 2], size=120, p=[0.3, 0.4, 0.3])
    last = time.max()
    cause[time == last] = 1  # n = d at the final time
    res = cumulative_incidence(time, cause, variance="delta").table
    for k in (1, 2):
        ts, var = _delta_variance_by_hand(time, cause, k)
        sub = res[res.cause == k]
        np.testing.assert_array_equal(sub.time, ts)
        np.testing.assert_allclose(sub.std_err**2, var, rtol=1e-10, atol=1e-15)
        assert np.isfinite(sub.std_err).all()
