"""The built-in risk model for risk-adjusted learning curves: ``pdva.outcomes.risk:registry_logistic``.

A logistic regression (statsmodels) of 6-month major amputation of the index limb or death (1 - AFS at 183
days) on pre-specified baseline covariates, fitted on the registry-wide derived table: every site, every index
procedure whose 6-month status is known by the data cut-off. Configure it with
``PDVA_RISK_MODEL=pdva.outcomes.risk:registry_logistic``.

Protocol of a risk model named in ``settings.PDVA_RISK_MODEL``: ``fn(rows, *, cutoff)`` takes rows of the derived
table (``pdva.outcomes.derive``) and returns their predicted 6-month risks, either as an array or as an object
with ``.risk`` (array) and ``.summary`` (dict shown in the reports). An optional ``fn.describe(cutoff)`` returns
that summary without predicting (the methods page uses it).

The fitting and the performance measures are pure (no Django); only ``registry_logistic`` reads the database.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from pdva.outcomes.derive import window_status
from pdva.outcomes.suppress import is_small, suppress_count

HORIZON_DAYS = 183
MIN_KNOWN = 30  # fewer complete cases than this: the model is not fitted
MIN_EVENTS = 5  # ... nor with fewer events or non-events than this


@dataclass(frozen=True)
class Covariate:
    key: str
    label: str
    definition: str


# Pre-specified (not selected from the data). Each is 1/0, or missing when the registry does not know.
COVARIATES: tuple[Covariate, ...] = (
    Covariate(
        "dialysis", "Dialysis dependent", "Baseline dialysis dependence recorded 'yes' (1) or 'no' (0)."
    ),
    Covariate("rutherford6", "Rutherford 6", "Baseline Rutherford category 6 (1) against 0-5 (0)."),
    Covariate(
        "wifi4",
        "WIfI clinical stage 4",
        "WIfI clinical stage 4, or a limb judged unsalvageable (1), against stages 1-3 (0).",
    ),
    Covariate("age80", "Age 80 or over", "Age at the procedure 80 years or over (1) against under 80 (0)."),
    Covariate(
        "heart_failure",
        "Heart failure",
        "Baseline heart failure recorded 'yes' (1) or 'no' (0). Chosen as the fifth covariate because it is a "
        "mandatory yes/no comorbidity on the baseline form, is coded in hospital episode data for linkage checks, "
        "and is a strong predictor of death, the larger component of amputation-free survival in CLTI.",
    ),
)
MISSING_RULE = (
    "Fitting uses complete cases only (procedures with every covariate known); the number left out is reported. "
    "When predicting for a procedure with a missing covariate, that covariate is set to its prevalence among the "
    "complete cases (its expected value), so the prediction averages over the unknown status instead of "
    "assuming it absent. A covariate with no variation among the complete cases is dropped from the model. If "
    "the maximum-likelihood fit fails to converge (e.g. separation in a small registry), a ridge-penalised fit "
    "(L2, alpha = 1 / complete cases) is used and the summary says so."
)
OUTCOME = (
    "Major amputation of the index limb or death from any cause within 183 days of the procedure "
    "(1 - amputation-free survival), among procedures whose 6-month status is known (event, death, or follow-up "
    "reaching day 183) at the data cut-off."
)


def covariates(t: pd.DataFrame) -> pd.DataFrame:
    """The covariate matrix (1.0 / 0.0 / NaN) for rows of the derived table."""
    age80 = t["age_band"].map({"80+": 1.0, "<60": 0.0, "60-69": 0.0, "70-79": 0.0}).to_numpy(dtype=float)
    stage = t["wifi_stage"].astype(str)
    hf = t["heart_failure"] if "heart_failure" in t else pd.Series(np.nan, index=t.index)
    return pd.DataFrame(
        {
            "dialysis": t["dialysis"].map({"Dialysis": 1.0, "No dialysis": 0.0}).to_numpy(dtype=float),
            "rutherford6": np.where(
                t["rutherford"].astype(str).str.match(r"^R\d$"),
                (t["rutherford"] == "R6").astype(float),
                np.nan,
            ),
            "wifi4": np.where(
                stage.str.match(r"^Stage \d$"), stage.isin(["Stage 4", "Stage 5"]).astype(float), np.nan
            ),
            "age80": age80,
            "heart_failure": hf.map({"yes": 1.0, "no": 0.0}).to_numpy(dtype=float),
        },
        index=t.index,
    )


def outcome(t: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(failed within 183 days, status known) per row of the derived table."""
    death = t["death_day"].to_numpy(dtype=float)
    occurred, known = window_status(t, np.fmin(t["amp_day"].to_numpy(dtype=float), death), HORIZON_DAYS)
    return occurred.astype(int), known


def c_statistic(risk: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half)."""
    y = np.asarray(y, dtype=int)
    n1, n0 = int(y.sum()), int((1 - y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = sps.rankdata(risk)
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration_table(risk: np.ndarray, y: np.ndarray, groups: int = 5) -> list[dict]:
    """Observed and expected events in fifths of predicted risk (Hosmer-Lemeshow groups)."""
    order = np.argsort(risk, kind="stable")
    out = []
    for i, idx in enumerate(np.array_split(order, groups)):
        if len(idx) == 0:
            continue
        obs, exp = int(y[idx].sum()), float(risk[idx].sum())
        out.append(
            {
                "group": i + 1,
                "n": len(idx),
                "risk_range": f"{risk[idx].min():.2f}-{risk[idx].max():.2f}",
                "observed": obs,
                "expected": exp,
                "o_e": obs / exp if exp > 0 else float("nan"),
            }
        )
    return out


@dataclass
class LogisticRiskModel:
    """A fitted model: coefficients on the log-odds scale and what is needed to predict and to report."""

    coefficients: pd.Series  # "const" and covariate keys
    std_errors: pd.Series
    prevalence: pd.Series  # among the complete cases, for missing covariates
    n_fit: int
    n_events: int
    n_missing: int  # known outcome but a missing covariate: left out of the fit
    c_statistic: float
    c_statistic_cv: float
    calibration: list[dict]
    penalised: bool = False
    dropped: list[str] = field(default_factory=list)
    cutoff: dt.date | None = None

    def predict(self, t: pd.DataFrame) -> np.ndarray:
        x = covariates(t)[[k for k in self.coefficients.index if k != "const"]]
        x = x.fillna(self.prevalence)
        eta = (
            self.coefficients["const"] + x.to_numpy(dtype=float) @ self.coefficients.drop("const").to_numpy()
        )
        return 1.0 / (1.0 + np.exp(-eta))

    def summary(self) -> dict[str, Any]:
        labels = {c.key: c.label for c in COVARIATES}
        return {
            "name": "pdva.outcomes.risk:registry_logistic",
            "outcome": OUTCOME,
            "n_fit": suppress_count(self.n_fit),
            "n_events": suppress_count(self.n_events),
            "n_missing": suppress_count(self.n_missing),
            "c_statistic": f"{self.c_statistic:.3f}",
            "c_statistic_cv": "-" if np.isnan(self.c_statistic_cv) else f"{self.c_statistic_cv:.3f}",
            "covariates": [{"label": c.label, "definition": c.definition} for c in COVARIATES],
            # Registry-wide counts leave every site: small ones are hidden with what would reveal them.
            "calibration": [
                {
                    **r,
                    "n": suppress_count(r["n"]),
                    "observed": suppress_count(r["observed"]),
                    "expected": f"{r['expected']:.1f}",
                    "o_e": "suppressed" if is_small(r["observed"]) else f"{r['o_e']:.2f}",
                }
                for r in self.calibration
            ],
            "coefficients": [
                {
                    "key": k,
                    "label": labels.get(k, "Intercept"),
                    "odds_ratio": f"{np.exp(v):.2f}" if k != "const" else "-",
                    "beta": f"{v:+.3f}",
                    "se": f"{self.std_errors[k]:.3f}" if not np.isnan(self.std_errors[k]) else "-",
                }
                for k, v in self.coefficients.items()
            ],
            "penalised": self.penalised,
            "dropped": [labels[k] for k in self.dropped],
            "missing_rule": MISSING_RULE,
            "data_cutoff": self.cutoff.isoformat() if self.cutoff else "",
        }


class RiskModelUnavailable(ValueError):
    """Too few complete cases or events to fit the model; the reports fall back to the unadjusted CUSUM."""


def _fit(x: pd.DataFrame, y: np.ndarray) -> tuple[pd.Series, pd.Series, bool]:
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    design = sm.add_constant(x, has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = sm.Logit(y, design).fit(disp=0, maxiter=100)
            if res.mle_retvals.get("converged", True) and np.all(np.isfinite(res.params)):
                return res.params, res.bse, False
        except (np.linalg.LinAlgError, ConvergenceWarning, PerfectSeparationWarning, ValueError):
            pass
    glm = sm.GLM(y, design, family=sm.families.Binomial())
    res = glm.fit_regularized(alpha=1.0 / len(y), L1_wt=0.0, maxiter=200)
    params = pd.Series(np.asarray(res.params), index=design.columns)
    return params, pd.Series(np.nan, index=design.columns), True


def fit_logistic(t: pd.DataFrame, *, cutoff: dt.date | None = None, folds: int = 5) -> LogisticRiskModel:
    """Fit on the rows of a derived table whose 6-month status is known (pure: statsmodels, no Django)."""
    y_all, known = outcome(t)
    x_all = covariates(t)[known]
    y_all = y_all[known]
    complete = x_all.notna().all(axis=1).to_numpy()
    x, y = x_all[complete], y_all[complete]
    n_missing = int((~complete).sum())
    if len(y) < MIN_KNOWN or y.sum() < MIN_EVENTS or (1 - y).sum() < MIN_EVENTS:
        raise RiskModelUnavailable(
            f"{len(y)} procedures with known 6-month status and every covariate ({int(y.sum())} events): need at "
            f"least {MIN_KNOWN}, with {MIN_EVENTS} events and {MIN_EVENTS} non-events"
        )
    dropped = [c for c in x.columns if x[c].nunique() < 2]
    x = x.drop(columns=dropped)
    params, bse, penalised = _fit(x, y)
    prevalence = x.mean()
    model = LogisticRiskModel(
        coefficients=params,
        std_errors=bse,
        prevalence=prevalence,
        n_fit=len(y),
        n_events=int(y.sum()),
        n_missing=n_missing,
        c_statistic=float("nan"),
        c_statistic_cv=float("nan"),
        calibration=[],
        penalised=penalised,
        dropped=dropped,
        cutoff=cutoff,
    )
    fitted = model.predict(t[known][complete])
    model.c_statistic = c_statistic(fitted, y)
    model.calibration = calibration_table(fitted, y)
    model.c_statistic_cv = _cross_validated_c(x, y, folds)
    return model


def _cross_validated_c(x: pd.DataFrame, y: np.ndarray, folds: int) -> float:
    """c-statistic of out-of-fold predictions (k-fold, fixed seed): the in-sample value is optimistic."""
    if len(y) < folds * 10:
        return float("nan")
    fold = np.random.default_rng(20260101).permutation(len(y)) % folds
    pred = np.empty(len(y))
    for k in range(folds):
        train, test = fold != k, fold == k
        if y[train].sum() == 0 or y[train].sum() == train.sum():
            return float("nan")
        params, _, _ = _fit(x[train], y[train])
        eta = params["const"] + x[test].to_numpy(dtype=float) @ params.drop("const").to_numpy()
        pred[test] = 1.0 / (1.0 + np.exp(-eta))
    return c_statistic(pred, y)


@dataclass
class RiskPrediction:
    risk: np.ndarray
    summary: dict[str, Any]
    model: LogisticRiskModel


def registry_model(cutoff: dt.date) -> LogisticRiskModel:
    """Fit on the registry-wide derived table as of ``cutoff`` (every site; reads the database)."""
    from pdva.outcomes.derive import derive
    from pdva.outcomes.load import current_prom_targets, load_frames

    derived = derive(load_frames(None), cutoff, prom_targets=current_prom_targets())
    return fit_logistic(derived.table, cutoff=cutoff)


def registry_logistic(rows: pd.DataFrame, *, cutoff: dt.date | None = None) -> RiskPrediction:
    """Predicted 6-month risks for ``rows`` from the registry-wide logistic model (see the module docstring)."""
    model = registry_model(cutoff or dt.date.today())
    return RiskPrediction(risk=model.predict(rows), summary=model.summary(), model=model)


def describe(cutoff: dt.date | None = None) -> dict[str, Any]:
    return registry_model(cutoff or dt.date.today()).summary()


registry_logistic.describe = describe  # type: ignore[attr-defined]
