"""GET /api/v1/worklists/followups: the stored follow-up statuses (what the web worklist shows), counted
and paged in the database, oldest due date first, only at the token owner's sites."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.followup.services import followup_items
from pdva.followup.services.run import refresh_statuses
from tests.api.conftest import call
from tests.factories import PatientFactory, ProcedureFactory

URL = "/api/v1/worklists/followups"


def _case(site, days_ago: int):  # type: ignore[no-untyped-def]
    date = dt.date.today() - dt.timedelta(days=days_ago)
    return ProcedureFactory(
        patient=PatientFactory(site=site),
        procedure_date=date,
        admission_date=date,
        discharge_date=date + dt.timedelta(days=3),
    )


@pytest.mark.django_db
def test_worklist_pages_the_stored_statuses_of_the_owners_sites(alice, site_a, site_b, token_for) -> None:
    for days_ago in (40, 100, 200, 400):
        _case(site_a, days_ago)
    elsewhere = _case(site_b, 100)
    refresh_statuses(dt.date.today())
    raw = token_for(alice)

    body = call(raw, URL + "?limit=500").json()
    expected = [i for i in followup_items([site_a.pk], dt.date.today()) if i.status in ("due", "overdue")]
    assert expected, "the cohort should have time points due or overdue today"
    assert body["count"] == len(expected) == len(body["items"])
    assert {(i["procedure"], i["timepoint"], i["year"]) for i in body["items"]} == {
        (i.procedure_uuid, i.timepoint, i.year) for i in expected
    }
    assert all(i["site"] == site_a.ods_code and i["status"] in ("due", "overdue") for i in body["items"])
    assert str(elsewhere.uuid) not in {i["procedure"] for i in body["items"]}
    dues = [i["due_date"] for i in body["items"]]
    assert dues == sorted(dues)
    assert all(i["label"] for i in body["items"])

    first = call(raw, URL + "?limit=1").json()
    second = call(raw, URL + "?limit=1&offset=1").json()
    assert first["count"] == second["count"] == len(expected)
    assert [first["items"][0], second["items"][0]] == body["items"][:2]

    missed = call(raw, URL + "?status=missed&limit=500").json()
    assert all(i["status"] == "missed" for i in missed["items"])
    assert missed["count"] == sum(
        1 for i in followup_items([site_a.pk], dt.date.today()) if i.status == "missed"
    )
    assert call(raw, URL + "?status=nonsense").status_code == 422
