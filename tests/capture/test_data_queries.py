"""Data queries: a data manager or auditor opens one on a field, the site answers, the opener closes."""

from __future__ import annotations

import pytest

from pdva.audit.models import AuditEntry
from pdva.capture.models import DataQuery
from tests.factories import BaselineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def baseline(case_a):  # type: ignore[no-untyped-def]
    return BaselineFactory(procedure=case_a)


def open_on(client, baseline, field="rutherford", question="Rutherford 5 but no wound recorded?"):  # type: ignore[no-untyped-def]
    return client.post(f"/cases/baseline/{baseline.uuid}/query/", {"field_name": field, "question": question})


def test_full_query_cycle_is_audited(alice, dave, login, baseline):
    r = open_on(login(dave), baseline)
    query = DataQuery.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/cases/queries/{query.pk}/"
    assert (query.field_label, query.status, query.procedure_id) == (
        "Rutherford category",
        "open",
        baseline.procedure_id,
    )
    # The site sees it on the record page and the worklist.
    assert (
        "Rutherford 5 but no wound" in login(alice).get(f"/cases/baseline/{baseline.uuid}/").content.decode()
    )
    assert query in login(alice).get("/cases/worklist/").context["queries"]
    r = login(alice).post(
        f"/cases/queries/{query.pk}/", {"action": "answer", "response": "Wound recorded in notes"}
    )
    assert r.status_code == 302
    query.refresh_from_db()
    assert (query.status, query.answered_by, query.response) == ("answered", alice, "Wound recorded in notes")
    # Only the opener closes.
    r = login(alice).post(f"/cases/queries/{query.pk}/", {"action": "close", "close_note": ""})
    assert r.status_code == 403
    r = login(dave).post(f"/cases/queries/{query.pk}/", {"action": "close", "close_note": "ok"})
    assert r.status_code == 302
    query.refresh_from_db()
    assert query.status == "closed" and query.closed_by == dave
    actions = list(
        AuditEntry.objects.filter(action__startswith="capture.query.").values_list("action", flat=True)
    )
    assert actions == ["capture.query.opened", "capture.query.answered", "capture.query.closed"]
    # A closed query cannot be answered again.
    r = login(alice).post(f"/cases/queries/{query.pk}/", {"action": "answer", "response": "again"})
    assert r.status_code == 409


def test_auditor_can_raise_but_not_answer(nora, login, baseline):
    assert open_on(login(nora), baseline).status_code == 302
    query = DataQuery.objects.get()
    r = login(nora).post(f"/cases/queries/{query.pk}/", {"action": "answer", "response": "x"})
    assert r.status_code == 403


def test_clinician_cannot_raise_and_other_site_cannot_see(alice, bob, dave, login, baseline):
    assert open_on(login(alice), baseline).status_code == 403
    open_on(login(dave), baseline)
    query = DataQuery.objects.get()
    assert login(bob).get(f"/cases/queries/{query.pk}/").status_code == 404
    assert list(login(bob).get("/cases/queries/").context["queries"]) == []


def test_query_needs_a_question(dave, login, baseline):
    r = open_on(login(dave), baseline, question="")
    assert r.status_code == 302 and not DataQuery.objects.exists()
