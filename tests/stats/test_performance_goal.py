"""Performance-goal comparison (PROMISE II style)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pdva.stats import kaplan_meier, performance_goal, performance_goal_bayes


def _complete_followup(events: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    time = np.r_[np.linspace(5, 170, events), np.full(n - events, 200.0)]
    event = np.r_[np.ones(events), np.zeros(n - events)]
    return time, event


def test_loglog_test_matches_hand_computation() -> None:
    time, event = _complete_followup(36, 105)  # 69/105 = 0.657 event-free at 183 days
    res = performance_goal(kaplan_meier(time, event), 183, 0.54)
    s = 69 / 105
    se = np.sqrt(s * (1 - s) / 105)  # Greenwood without censoring = binomial SE
    assert res.estimate == pytest.approx(s)
    assert res.std_err == pytest.approx(se, rel=1e-12)
    sigma = se / s
    z = (np.log(-np.log(0.54)) - np.log(-np.log(s))) / (sigma / abs(np.log(s)))
    assert res.z == pytest.approx(z)
    assert res.p_value == pytest.approx(stats.norm.sf(z))
    lower = s ** np.exp(-stats.norm.isf(0.025) * sigma / np.log(s))
    assert res.lower == pytest.approx(lower)
    assert res.passed == (lower > 0.54) == (res.p_value < 0.025)
    assert res.n_risk == 69


def test_promise_ii_like_numbers() -> None:
    """stats.md §1.7 illustration: 0.661 with n = 105 -> binomial SE 0.0462; success at one-sided 2.5%."""
    time, event = _complete_followup(36, 106)  # 70/106 = 0.6604
    res = performance_goal(kaplan_meier(time, event), 183, 0.54)
    assert res.std_err == pytest.approx(0.046, abs=1e-3)
    assert res.passed and res.p_value < 0.025


def test_fails_when_estimate_close_to_goal() -> None:
    time, event = _complete_followup(45, 100)
    res = performance_goal(kaplan_meier(time, event), 183, 0.54)
    assert not res.passed and res.p_value > 0.025


def test_uses_loglog_regardless_of_fit_conf_type() -> None:
    time, event = _complete_followup(36, 105)
    a = performance_goal(kaplan_meier(time, event, conf_type="log"), 183, 0.54)
    b = performance_goal(kaplan_meier(time, event, conf_type="plain"), 183, 0.54)
    assert a == b


def test_not_estimable_beyond_follow_up() -> None:
    with pytest.raises(ValueError, match="not estimable"):
        performance_goal(kaplan_meier([10, 20], [1, 0]), 183, 0.54)


def test_bayes_posterior() -> None:
    res = performance_goal_bayes(69, 105, 0.54)
    assert res.probability == pytest.approx(1 - stats.beta.cdf(0.54, 70, 37))
    assert res.posterior == (70.0, 37.0)
    assert res.passed  # PROMISE II threshold 0.977
    assert not performance_goal_bayes(58, 105, 0.54).passed
    informative = performance_goal_bayes(69, 105, 0.54, prior=(5.4, 4.6))
    assert informative.probability == pytest.approx(stats.beta.sf(0.54, 74.4, 40.6))


def test_bayes_invalid() -> None:
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        performance_goal_bayes(110, 105, 0.54)
    with pytest.raises(ValueError, match="goal"):
        performance_goal_bayes(50, 105, 54)
