"""Who sees small numbers: one rule for every output a role can reach (report pages, PDFs, the API).

A user whose reach is national (the national audit team, auditors) sees sites they do not belong to, so every
site figure they are shown has counts of 1 to 4 hidden (pdva.outcomes.suppress). A site's own staff see their
site's figures in full: they already see the patients behind them."""

from __future__ import annotations

from typing import Any

from pdva.accounts.access import site_ids_for
from pdva.accounts.roles import Cap


def suppresses_small_numbers(user: Any) -> bool:
    """True when site figures shown to ``user`` must hide small counts."""
    return site_ids_for(user, Cap.VIEW_SITE_REPORTS) is None
