"""Pointwise confidence-interval transforms for a probability p with standard error of log p.

Formulas follow R ``survival:::survfit_confint`` (survival 3.8-6, R/survfit.R):

- ``plain``:   p ± z·p·σ, clipped to [0, 1]
- ``log``:     p·exp(±z·σ), upper capped at 1 (R's default for survfit)
- ``log-log``: p^exp(∓z·σ/log p)  (= exp(−exp(log(−log p) ± z·σ/|log p|)); lifelines, sksurv, SAS, Stata)

σ is the standard error of log p: for Kaplan–Meier the square root of the Greenwood sum; for a cumulative
incidence F, se(F)/F. As in R, the interval is undefined (NaN) where the transform is: p = 0 for ``log`` and
``log-log``, and p = 1 for ``log-log``.
"""

from __future__ import annotations

import numpy as np

from ._validate import FloatArray

CONF_TYPES = ("log", "log-log", "plain")


def transform_ci(
    p: FloatArray, sigma: FloatArray, z: float, conf_type: str, *, overwrite_sigma: bool = False
) -> tuple[FloatArray, FloatArray]:
    # compute everywhere, then blank the undefined points with a mask store (cheaper than np.where)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            half = z * p * sigma
            lower = np.clip(p - half, 0.0, 1.0)
            upper = np.clip(p + half, 0.0, 1.0)
            return lower, upper
        if conf_type == "log":
            lower = p * np.exp(-z * sigma)
            upper = np.minimum(p * np.exp(z * sigma), 1.0)
            undefined = p <= 0
        elif conf_type == "log-log":
            logp = np.log(p)
            theta = sigma if overwrite_sigma else sigma.copy()  # (a temporary of the caller's)
            theta *= z
            theta /= logp  # negative: log p < 0
            lower = np.negative(theta)
            np.exp(lower, out=lower)
            lower *= logp
            np.exp(lower, out=lower)
            upper = np.exp(theta, out=theta)
            upper *= logp
            np.exp(upper, out=upper)
            undefined = (p <= 0) | (p >= 1)
        else:  # pragma: no cover - validated by callers
            raise ValueError(f"unknown conf_type {conf_type!r}")
    if undefined.any():
        lower[undefined] = np.nan
        upper[undefined] = np.nan
    return lower, upper
