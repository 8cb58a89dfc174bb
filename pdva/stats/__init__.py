"""Outcome statistics for the pDVA registry: survival, competing risks, proportions, funnel plots, CUSUM
and performance goals. Pure numpy/scipy/pandas (no Django), importable from a notebook.

Formulas and validation cases: research/stats.md; each module's docstring cites its sources.

Example::

    from pdva import stats

    km = stats.kaplan_meier(df.days, df.afs_event)              # R conventions: log CI, Greenwood
    km.table; km.at([30, 182, 365]); km.median()
    by = stats.kaplan_meier_strata(df.days, df.afs_event, df[["site", "dialysis"]])
    by.at([182])                                                # every group at 6 months, one call
    cif = stats.cumulative_incidence(df.days, df.cause)          # 0 censored, 1 amputation, 2 death
    stats.performance_goal(km, at=182, goal=0.54)
"""

from .competing_risks import (
    CumulativeIncidenceResult,
    CumulativeIncidenceStrataResult,
    cumulative_incidence,
    cumulative_incidence_strata,
)
from .cusum import (
    CusumChart,
    RACusumResult,
    bernoulli_cusum,
    cusum_threshold,
    cusum_weights,
    ra_cusum,
    vlad,
)
from .funnel import Overdispersion, funnel_flags, funnel_limits, overdispersion
from .performance_goal import (
    BayesGoalResult,
    PerformanceGoalResult,
    performance_goal,
    performance_goal_bayes,
)
from .proportions import ProportionCI, proportion_ci, proportion_ci_strata
from .survival import (
    KaplanMeierResult,
    KaplanMeierStrataResult,
    MedianCI,
    kaplan_meier,
    kaplan_meier_strata,
)

__all__ = [
    "BayesGoalResult",
    "CumulativeIncidenceResult",
    "CumulativeIncidenceStrataResult",
    "CusumChart",
    "KaplanMeierResult",
    "KaplanMeierStrataResult",
    "MedianCI",
    "Overdispersion",
    "PerformanceGoalResult",
    "ProportionCI",
    "RACusumResult",
    "bernoulli_cusum",
    "cumulative_incidence",
    "cumulative_incidence_strata",
    "cusum_threshold",
    "cusum_weights",
    "funnel_flags",
    "funnel_limits",
    "kaplan_meier",
    "kaplan_meier_strata",
    "overdispersion",
    "performance_goal",
    "performance_goal_bayes",
    "proportion_ci",
    "proportion_ci_strata",
    "ra_cusum",
    "vlad",
]
