"""The built-in logistic risk model (pure part): coefficient recovery on simulated data, the missing-covariate
rule, the fitting sample, the performance measures, and the fallbacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pdva.outcomes.risk import (
    RiskModelUnavailable,
    c_statistic,
    calibration_table,
    covariates,
    fit_logistic,
)

TRUE = {"const": -1.5, "dialysis": 1.2, "rutherford6": 0.6, "wifi4": 0.5, "age80": 0.4, "heart_failure": 0.7}
PREVALENCE = {"dialysis": 0.35, "rutherford6": 0.3, "wifi4": 0.45, "age80": 0.25, "heart_failure": 0.2}


def simulated(n: int, seed: int = 3, beta: dict | None = None) -> pd.DataFrame:
    """A derived-table-like frame whose 6-month failure follows a known logistic model."""
    beta = beta or TRUE
    rng = np.random.default_rng(seed)
    x = {k: (rng.random(n) < p).astype(float) for k, p in PREVALENCE.items()}
    eta = beta["const"] + sum(beta[k] * x[k] for k in PREVALENCE)
    y = rng.random(n) < 1 / (1 + np.exp(-eta))
    return pd.DataFrame(
        {
            "dialysis": np.where(x["dialysis"] == 1, "Dialysis", "No dialysis"),
            "rutherford": np.where(x["rutherford6"] == 1, "R6", "R5"),
            "wifi_stage": np.where(x["wifi4"] == 1, "Stage 4", "Stage 3"),
            "age_band": np.where(x["age80"] == 1, "80+", "70-79"),
            "heart_failure": np.where(x["heart_failure"] == 1, "yes", "no"),
            # Failures die on day 100; the others are followed to day 400 (6-month status known).
            "death_day": np.where(y, 100.0, np.nan),
            "amp_day": np.nan,
            "end_day": np.where(y, 100.0, 400.0),
            "dead": y,
        }
    )


def test_recovers_known_coefficients_on_simulated_data() -> None:
    model = fit_logistic(simulated(20_000))
    assert not model.penalised and model.n_fit == 20_000
    for key, beta in TRUE.items():
        est, se = model.coefficients[key], model.std_errors[key]
        assert abs(est - beta) < 4 * se, (key, est, beta, se)
        assert abs(est - beta) < 0.2, key
    # In the fitting data a logistic model with an intercept predicts as many events as observed.
    assert sum(r["expected"] for r in model.calibration) == pytest.approx(model.n_events, rel=1e-6)
    assert 0.6 < model.c_statistic < 0.8 and abs(model.c_statistic - model.c_statistic_cv) < 0.02


def test_missing_covariate_is_left_out_of_the_fit_and_set_to_its_prevalence_when_predicting() -> None:
    t = simulated(4_000, seed=5)
    t.loc[:199, "heart_failure"] = "not_known"
    t.loc[200:299, "age_band"] = "Not known"
    model = fit_logistic(t)
    assert model.n_fit == 3_700 and model.n_missing == 300
    complete = covariates(t).dropna()
    assert model.prevalence["heart_failure"] == pytest.approx(complete["heart_failure"].mean())
    b = model.coefficients
    row = t.iloc[[0]]  # heart failure not known
    x = covariates(row).iloc[0]
    eta = (
        b["const"]
        + b["dialysis"] * x["dialysis"]
        + b["rutherford6"] * x["rutherford6"]
        + b["wifi4"] * x["wifi4"]
        + b["age80"] * x["age80"]
        + b["heart_failure"] * complete["heart_failure"].mean()
    )
    assert model.predict(row)[0] == pytest.approx(1 / (1 + np.exp(-eta)))


def test_only_procedures_with_known_six_month_status_are_fitted() -> None:
    t = simulated(500, seed=7)
    lost = pd.DataFrame([t.iloc[0].to_dict()] * 40)
    lost["death_day"], lost["end_day"], lost["dead"] = np.nan, 120.0, False  # lost to follow-up on day 120
    model = fit_logistic(pd.concat([t, lost], ignore_index=True))
    assert model.n_fit == 500


def test_c_statistic_and_calibration_by_hand() -> None:
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ranked right.
    assert c_statistic(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    table = calibration_table(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]), groups=2)
    assert [(r["n"], r["observed"], r["expected"]) for r in table] == [
        (2, 1, pytest.approx(0.3)),
        (2, 1, 0.7),
    ]


def test_too_few_cases_is_an_explicit_error_and_separation_falls_back_to_a_penalised_fit() -> None:
    with pytest.raises(RiskModelUnavailable, match="need at least 30"):
        fit_logistic(simulated(25))
    t = simulated(400, seed=11)
    # Every dialysis patient fails: maximum likelihood has no finite solution.
    dial = t["dialysis"] == "Dialysis"
    t.loc[dial, ["death_day", "end_day"]] = 100.0
    t.loc[dial, "dead"] = True
    model = fit_logistic(t)
    assert model.penalised and np.isfinite(model.coefficients).all()
    assert model.coefficients["dialysis"] > 2  # still a large effect
    # A covariate nobody has is dropped, not fitted.
    t2 = simulated(400, seed=12)
    t2["heart_failure"] = "no"
    assert fit_logistic(t2).dropped == ["heart_failure"]
