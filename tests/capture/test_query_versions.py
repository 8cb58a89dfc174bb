"""Answering and closing a data query checks the version the user read: a stale answer or close is
refused and shows what the other person wrote; the user's own text is kept."""

from __future__ import annotations

import pytest

from pdva.audit.context import audit_context
from pdva.capture.kinds import KINDS
from pdva.capture.models import DataQuery
from pdva.capture.services.queries import open_query
from tests.factories import BaselineFactory, UserFactory, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def query(case_a, dave):  # type: ignore[no-untyped-def]
    baseline = BaselineFactory(procedure=case_a)
    with audit_context(dave):
        return open_query(
            dave, KINDS["baseline"], baseline, field_name="rutherford", question="Rutherford 5?"
        )


@pytest.fixture
def carol(site_a):  # type: ignore[no-untyped-def]
    """A second clinician at site A."""
    user = UserFactory(username="carol")
    grant(user, "site_clinician", site_a)
    return user


def answer(client, query, text: str, version: int):  # type: ignore[no-untyped-def]
    return client.post(
        f"/cases/queries/{query.pk}/", {"action": "answer", "response": text, "version": version}
    )


def test_the_query_page_carries_the_version_it_shows(alice, login, query):
    page = login(alice).get(f"/cases/queries/{query.pk}/")
    assert page.context["answer_form"]["version"].value() == query.version


def test_a_stale_answer_is_refused_with_the_other_answer_shown(alice, carol, login, query):
    opened_at = query.version
    assert (
        answer(login(alice), query, "Yes: ulcer on the heel, see clinic letter.", opened_at).status_code
        == 302
    )
    r = answer(login(carol), query, "Rutherford 4, corrected.", opened_at)
    assert r.status_code == 409
    body = r.content.decode()
    assert "Yes: ulcer on the heel, see clinic letter." in body and "alice" in body
    assert "Rutherford 4, corrected." in body  # carol's text is kept in her form
    assert r.context["answer_form"]["version"].value() == str(query.version + 1)
    query.refresh_from_db()
    assert (
        query.response == "Yes: ulcer on the heel, see clinic letter."
        and query.answered_by.username == "alice"
    )
    # Having read it, carol can still save her answer against the current version.
    assert answer(login(carol), query, "Rutherford 4, corrected.", query.version).status_code == 302
    query.refresh_from_db()
    assert query.response == "Rutherford 4, corrected."


def test_closing_on_an_answer_not_yet_seen_is_refused(alice, dave, login, query):
    opened_at = query.version
    answer(login(alice), query, "First answer", opened_at)
    seen = DataQuery.objects.get(pk=query.pk).version
    answer(login(alice), query, "Second thoughts: Rutherford 6", seen)
    r = login(dave).post(
        f"/cases/queries/{query.pk}/", {"action": "close", "close_note": "ok", "version": seen}
    )
    assert r.status_code == 409
    assert "Second thoughts: Rutherford 6" in r.content.decode()
    query.refresh_from_db()
    assert query.status == "answered"
    fresh = query.version
    r = login(dave).post(
        f"/cases/queries/{query.pk}/", {"action": "close", "close_note": "ok", "version": fresh}
    )
    assert r.status_code == 302
    query.refresh_from_db()
    assert query.status == "closed"


def test_an_answer_to_a_query_closed_meanwhile_shows_who_closed_it(alice, dave, login, query):
    opened_at = query.version
    dave_client = login(dave)
    answer(dave_client, query, "Checked myself", opened_at)
    dave_client.post(
        f"/cases/queries/{query.pk}/",
        {"action": "close", "close_note": "Resolved by the data manager", "version": opened_at + 1},
    )
    r = answer(login(alice), query, "My late answer", opened_at)
    assert r.status_code == 409
    body = r.content.decode()
    assert "Resolved by the data manager" in body and "My late answer" in body and "dave" in body
    query.refresh_from_db()
    assert query.response == "Checked myself"
