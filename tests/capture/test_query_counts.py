"""The patient page, case page and site worklist run a constant number of SQL queries whatever the
cohort size (seeded synthetic cohorts of 10 and 40 patients)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pdva.capture.services.worklists import refresh_completeness
from pdva.followup.services.run import refresh_statuses
from pdva.registry import models as m
from pdva.registry.synthetic import seed_cohort
from tests.factories import AdverseEventFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

MAX_PAGE_QUERIES = 30


def measure(client, url: str) -> int:  # type: ignore[no-untyped-def]
    client.get(url)  # warm caches that are per process, not per request (templates, nav)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def cohort_counts(patients: int, seed: int, login) -> dict[str, int]:  # type: ignore[no-untyped-def]
    seed_cohort(sites=2, patients=patients, years=3, seed=seed, cutoff=dt.date(2026, 1, 1))
    # The worklist reads derived rows a bulk load leaves to the daily run and the completeness check.
    refresh_statuses(dt.date.today())
    refresh_completeness(only_unchecked=True)
    site = m.Site.objects.order_by("ods_code").first()
    # One outstanding MHRA report at the site, so no list is empty in either cohort (an empty page
    # needs no row query) and both pages run the same queries.
    first = m.Procedure.objects.filter(patient__site=site).order_by("pk").first()
    AdverseEventFactory(procedure=first, onset_date=first.procedure_date, serious="yes", mhra_reported="no")
    user = UserFactory(username=f"clin{patients}")
    grant(user, "site_clinician", site)
    client = login(user)
    # The busiest patient of the site: the most records gives the most chances for a per-row query.
    patient = max(
        m.Patient.objects.filter(site=site, procedures__isnull=False).distinct(),
        key=lambda p: sum(pr.visits.count() + pr.adverse_events.count() for pr in p.procedures.all()),
    )
    procedure = patient.procedures.first()
    counts = {
        "patient": measure(client, f"/cases/patients/{patient.uuid}/"),
        "case": measure(client, f"/cases/case/{procedure.uuid}/"),
        "worklist": measure(client, "/cases/worklist/"),
    }
    worklist = client.get("/cases/worklist/").context
    counts["rows"] = (
        len(worklist["due"]) + len(worklist["missed"]) + len(worklist["missing"]) + len(worklist["mhra"])
    )
    return counts


def test_query_counts_do_not_grow_with_the_cohort(login):
    small = cohort_counts(10, 11, login)
    # Add 30 more patients to the same sites (a different seed): the pages must not make more queries.
    large = cohort_counts(30, 12, login)
    print("query counts", small, large)
    assert large["rows"] > small["rows"], "the larger cohort has more worklist rows"
    for page in ("patient", "case", "worklist"):
        assert large[page] == small[page], (page, small, large)
        assert small[page] <= MAX_PAGE_QUERIES


def test_patient_page_within_budget(django_assert_max_num_queries, login):
    seed_cohort(sites=1, patients=12, years=2, seed=3, cutoff=dt.date(2026, 1, 1))
    site = m.Site.objects.get()
    user = UserFactory(username="clin")
    grant(user, "site_clinician", site)
    client = login(user)
    patient = m.Patient.objects.filter(procedures__isnull=False).first()
    client.get(f"/cases/patients/{patient.uuid}/")
    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        assert client.get(f"/cases/patients/{patient.uuid}/").status_code == 200
