"""Writing follow-up visits through the API: the same audited, versioned saves as the web app, scoped by role
and site, with a stale version answered by a 409 that lists the other person's changes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from pdva.api.models import ApiToken
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.registry.models import FollowUpVisit
from tests.api.conftest import issue

EDITORS_AT_A = {"alice", "dave"}


def _send(method: str, raw: str | None, path: str, payload: dict) -> object:  # type: ignore[type-arg]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}
    return getattr(Client(), method)(
        path, data=json.dumps(payload), content_type="application/json", **headers
    )


def _new_visit(story) -> dict:  # type: ignore[no-untyped-def]
    procedure = story["procedures"]
    return {
        "procedure": str(procedure.uuid),
        "visit_date": str(procedure.procedure_date + dt.timedelta(days=40)),
        "timepoint": "w2_6",
        "contact_mode": "face_to_face",
        "circuit_patency": "patent",
        "pain_nrs": 3,
    }


@pytest.fixture
def actors(alice, bob, dave, gina, nora, rita, sam, nobody):  # type: ignore[no-untyped-def]
    return {u.username: u for u in (alice, bob, dave, gina, nora, rita, sam, nobody)}


def test_create_permission_matrix(story, actors):
    for name, user in actors.items():
        before = FollowUpVisit.objects.count()
        response = _send("post", issue(user), "/api/v1/followups", _new_visit(story))
        body = response.json()
        if name in EDITORS_AT_A:
            assert response.status_code == 201, (name, body)
            visit = FollowUpVisit.objects.get(uuid=body["id"])
            assert body["version"] == 1 and body["procedure"] == str(story["procedures"].uuid)
            created = AuditEntry.objects.get(action="registry.followupvisit.created", object_id=str(visit.pk))
            assert created.actor_id == user.pk and created.reason == "API request"
        elif name == "bob":  # an editor at another site: the procedure does not exist for him
            assert response.status_code == 404 and body["error"]["code"] == "not_found", body
        else:
            assert response.status_code == 403, (name, body)
            assert body["error"]["code"] in ("forbidden", "no_membership")
        if name not in EDITORS_AT_A:
            assert FollowUpVisit.objects.count() == before


def test_update_permission_matrix(story, actors):
    visit = story["followups"]
    for name, user in actors.items():
        visit.refresh_from_db()
        payload = {"version": visit.version, "reason": f"checked by {name}", "pain_nrs": len(name)}
        response = _send("patch", issue(user), f"/api/v1/followups/{visit.uuid}", payload)
        body = response.json()
        if name in EDITORS_AT_A:
            assert response.status_code == 200, (name, body)
            assert body["pain_nrs"] == len(name) and body["version"] == payload["version"] + 1
            edit = AuditEntry.objects.filter(action="registry.followupvisit.updated").latest("seq")
            assert edit.actor_id == user.pk and edit.reason == f"checked by {name}"
            assert edit.after == {"pain_nrs": len(name)}
        elif name == "bob":
            assert response.status_code == 404 and str(visit.uuid) not in response.content.decode()
        else:
            assert response.status_code == 403, (name, body)


def test_a_stale_version_is_a_409_with_the_other_persons_changes(story, alice, dave):
    visit = story["followups"]
    loaded = visit.version
    first = _send(
        "patch",
        issue(dave),
        f"/api/v1/followups/{visit.uuid}",
        {"version": loaded, "reason": "duplex report", "circuit_patency": "occluded"},
    )
    assert first.status_code == 200
    stale = _send(
        "patch",
        issue(alice),
        f"/api/v1/followups/{visit.uuid}",
        {"version": loaded, "reason": "pain score", "pain_nrs": 9, "circuit_patency": "patent"},
    )
    assert stale.status_code == 409
    body = stale.json()
    assert body["error"]["code"] == "version_conflict" and body["current_version"] == loaded + 1
    [theirs] = body["theirs"]
    assert theirs["by"] == dave.username and theirs["reason"] == "duplex report"
    assert theirs["changes"]["circuit_patency"]["to"] == "occluded"
    visit.refresh_from_db()
    assert visit.circuit_patency == "occluded" and visit.pain_nrs != 9  # alice's stale edit changed nothing
    retry = _send(
        "patch",
        issue(alice),
        f"/api/v1/followups/{visit.uuid}",
        {"version": body["current_version"], "reason": "pain score", "pain_nrs": 9},
    )
    assert retry.status_code == 200 and retry.json()["circuit_patency"] == "occluded"


def test_model_rules_and_bad_input_are_structured_errors(story, alice):
    raw = issue(alice)
    early = {
        **_new_visit(story),
        "visit_date": str(story["procedures"].procedure_date - dt.timedelta(days=1)),
    }
    response = _send("post", raw, "/api/v1/followups", early)
    assert response.status_code == 422 and "visit_date" in response.json()["error"]["fields"]
    response = _send("post", raw, "/api/v1/followups", {**_new_visit(story), "circuit_patency": "wobbly"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    visit = story["followups"]
    for payload in ({"version": visit.version, "reason": "   "}, {"version": visit.version}):
        response = _send("patch", raw, f"/api/v1/followups/{visit.uuid}", payload)
        assert response.status_code == 422, payload
    response = _send(
        "patch",
        raw,
        f"/api/v1/followups/{visit.uuid}",
        {"version": visit.version, "reason": "x", "timepoint": None},
    )
    assert response.status_code == 422 and "timepoint" in response.json()["error"]["fields"]


def test_a_locked_case_refuses_edits_but_takes_new_follow_up(story, alice):
    procedure, visit = story["procedures"], story["followups"]
    with audit_context(alice, reason="case signed off"):
        procedure.locked_at = timezone.now()
        procedure.save()
    raw = issue(alice)
    response = _send(
        "patch",
        raw,
        f"/api/v1/followups/{visit.uuid}",
        {"version": visit.version, "reason": "x", "pain_nrs": 1},
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "locked"
    assert _send("post", raw, "/api/v1/followups", _new_visit(story)).status_code == 201


def test_writes_need_a_valid_token(story, alice):
    expired = issue(alice, "expired")
    with audit_context(label="test", reason="token state"):
        token = ApiToken.find(expired)
        token.expires_at = timezone.now() - dt.timedelta(seconds=1)
        token.save()
    visit = story["followups"]
    for raw, code in ((None, "unauthenticated"), ("nonsense", "invalid_token"), (expired, "token_expired")):
        assert _send("post", raw, "/api/v1/followups", _new_visit(story)).json()["error"]["code"] == code
        response = _send("patch", raw, f"/api/v1/followups/{visit.uuid}", {"version": 1, "reason": "x"})
        assert response.status_code == 401 and response.json()["error"]["code"] == code
