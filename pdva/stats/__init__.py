"""Outcome statistics for the pDVA registry (pure numpy/scipy/pandas; no Django)."""

from .survival import KaplanMeierResult, KaplanMeierStrataResult, MedianCI, kaplan_meier, kaplan_meier_strata

__all__ = [
    "KaplanMeierResult",
    "KaplanMeierStrataResult",
    "MedianCI",
    "kaplan_meier",
    "kaplan_meier_strata",
]
