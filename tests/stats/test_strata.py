"""Stratified estimators: one call for many groups equals the per-group fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pdva.stats import (
    cumulative_incidence,
    cumulative_incidence_strata,
    kaplan_meier,
    kaplan_meier_strata,
)


def _registry(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "site": rng.choice(["RBA", "RQ3", "RTH", "RX1"], n),
            "operator": rng.choice(["op1", "op2", "op3"], n),
            "dialysis": rng.random(n) < 0.3,
            "time": rng.integers(0, 730, n).astype(float),
            "event": (rng.random(n) < 0.5).astype(int),
            "cause": rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25]),
            "entry": rng.integers(0, 30, n).astype(float),
        }
    ).assign(time=lambda d: d.time + d.entry + 1)


GROUPS = ["site", "operator", "dialysis"]


def test_km_strata_equals_per_group_fits() -> None:
    d = _registry()
    strata = kaplan_meier_strata(d.time, d.event, d[GROUPS])
    table = strata.table
    assert list(table.columns[:3]) == GROUPS
    assert len(strata.groups) == d.groupby(GROUPS).ngroups
    for key, sub in d.groupby(GROUPS):
        mask = np.logical_and.reduce([table[c] == v for c, v in zip(GROUPS, key, strict=True)])
        got = table[mask].drop(columns=GROUPS).reset_index(drop=True)
        ref = kaplan_meier(sub.time, sub.event).table
        pd.testing.assert_frame_equal(
            got[["time", "n_risk", "n_event", "n_censor"]], ref[["time", "n_risk", "n_event", "n_censor"]]
        )
        np.testing.assert_allclose(
            got[["survival", "std_err", "lower", "upper"]],
            ref[["survival", "std_err", "lower", "upper"]],
            rtol=1e-12,
            atol=1e-15,
        )


def test_km_strata_with_delayed_entry() -> None:
    d = _registry(seed=1)
    table = kaplan_meier_strata(d.time, d.event, d.site, entry=d.entry).table
    for site, sub in d.groupby("site"):
        ref = kaplan_meier(sub.time, sub.event, entry=sub.entry).table
        got = table[table.site == site]
        np.testing.assert_array_equal(got.n_risk, ref.n_risk)
        np.testing.assert_allclose(got.survival, ref.survival, rtol=1e-12)


def test_km_strata_at_and_median_per_group() -> None:
    d = _registry(seed=2)
    strata = kaplan_meier_strata(d.time, d.event, {"site": d.site, "dialysis": d.dialysis})
    at = strata.at([30, 182, 365])
    med = strata.median()
    for (site, dia), sub in d.groupby(["site", "dialysis"]):
        ref = kaplan_meier(sub.time, sub.event)
        got = (
            at[(at.site == site) & (at.dialysis == dia)]
            .drop(columns=["site", "dialysis"])
            .reset_index(drop=True)
        )
        pd.testing.assert_frame_equal(got, ref.at([30, 182, 365]), rtol=1e-12)
        m = med[(med.site == site) & (med.dialysis == dia)].iloc[0]
        rm = ref.median()
        np.testing.assert_allclose(
            [m["median"], m.lower, m.upper], [rm.median, rm.lower, rm.upper], equal_nan=True
        )
        assert m.n == len(sub) and m.n_event == sub.event.sum()


def test_survival_at_182_days_for_every_group_in_one_call() -> None:
    d = _registry(seed=3)
    at = kaplan_meier_strata(d.time, d.event, d[GROUPS]).at([182])
    assert len(at) == d.groupby(GROUPS).ngroups
    assert at.time.eq(182).all()


def test_cif_strata_equals_per_group_fits() -> None:
    d = _registry(seed=4)
    strata = cumulative_incidence_strata(d.time, d.cause, d[["site", "dialysis"]])
    table = strata.table
    at = strata.at([90, 365])
    for (site, dia), sub in d.groupby(["site", "dialysis"]):
        ref = cumulative_incidence(sub.time, sub.cause, n_causes=2)
        got = table[(table.site == site) & (table.dialysis == dia)].drop(columns=["site", "dialysis"])
        pd.testing.assert_frame_equal(got.reset_index(drop=True), ref.table, rtol=1e-10)
        got_at = at[(at.site == site) & (at.dialysis == dia)].drop(columns=["site", "dialysis"])
        pd.testing.assert_frame_equal(got_at.reset_index(drop=True), ref.at([90, 365]), rtol=1e-10)


def test_group_with_all_censored_and_single_subject_groups() -> None:
    time = [1, 2, 3, 4, 5, 6]
    event = [0, 0, 1, 1, 0, 1]
    group = ["a", "a", "b", "b", "b", "c"]
    s = kaplan_meier_strata(time, event, group)
    assert s.table.group.tolist() == ["b", "b", "c"]
    at = s.at([0.5])
    assert at.group.tolist() == ["a", "b", "c"] and at.survival.tolist() == [1, 1, 1]
    med = s.median()
    assert np.isnan(med.loc[med.group == "a", "median"]).all()


def test_group_label_types_are_kept() -> None:
    cat = pd.Categorical(["x", "y", "x", "y"], categories=["y", "x"])
    s = kaplan_meier_strata([1, 2, 3, 4], [1, 1, 0, 1], pd.Series(cat, name="arm"))
    assert s.group_columns == ["arm"]
    assert isinstance(s.table.arm.dtype, pd.CategoricalDtype) or s.table.arm.tolist()


def test_missing_group_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="group column 'site' contains missing values"):
        kaplan_meier_strata([1, 2], [1, 0], pd.DataFrame({"site": ["a", None]}))
