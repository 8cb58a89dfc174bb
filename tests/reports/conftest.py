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
