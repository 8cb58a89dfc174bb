"""A small seeded cohort for report tests (3 synthetic sites plus the named actors' sites A and B)."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.registry.models import Site
from pdva.registry.synthetic import seed_cohort

CUTOFF = dt.date(2026, 1, 1)


@pytest.fixture
def cohort(db):  # type: ignore[no-untyped-def]
    seed_cohort(sites=3, patients=36, years=3, seed=7, cutoff=CUTOFF)
    return list(Site.objects.filter(ods_code__in=["ZZA", "ZZB", "ZZC"]).order_by("ods_code"))


@pytest.fixture(autouse=True)
def snapshot_refresh_at_once(monkeypatch):  # type: ignore[no-untyped-def]
    """Report pages show stored snapshots that a background job computes. Until pdva.jobs is installed
    (whose test setting runs jobs at once), run the queued refresh at once here too, so page tests see
    figures. tests/reports/test_snapshots.py turns this off to check the page itself never computes."""
    from django.apps import apps

    from pdva.reports.services import snapshots

    if not apps.is_installed("pdva.jobs"):
        monkeypatch.setattr(
            snapshots, "_dispatch", lambda key, run_after=None: snapshots.refresh_snapshot(key)
        )
