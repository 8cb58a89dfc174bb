"""Every API route × every actor: own site, other site, no site, each role, bad/expired/revoked/missing token."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from pdva.api.api import api
from pdva.api.models import ApiToken
from pdva.audit.context import audit_context
from tests.api.conftest import call, issue

VIEW_CLINICAL = {"alice", "bob", "dave", "gina", "nora"}
SITE_REPORTS = {"alice", "bob", "dave", "gina", "nora"}
SEES_SITE_A = {"alice", "dave", "gina", "nora"}


def routes() -> list[str]:
    return sorted(api.get_openapi_schema()["paths"])


def _path(route: str, story) -> str:  # type: ignore[no-untyped-def]
    if "{" not in route:
        return route
    kind = route.split("/")[3] if route.split("/")[3] != "events" else route.split("/")[4]
    return route.split("{")[0] + str(story[kind].uuid)


def test_every_route_is_listed():
    paths = routes()
    assert "/api/v1/patients" in paths and "/api/v1/summaries/endpoints" in paths
    assert len(paths) >= 11


@pytest.mark.parametrize("route", routes())
def test_route_permission_matrix(route, story, alice, bob, dave, gina, nora, rita, sam, nobody):
    actors = {u.username: u for u in (alice, bob, dave, gina, nora, rita, sam, nobody)}
    path = _path(route, story)
    allowed = SITE_REPORTS if "summaries" in route else VIEW_CLINICAL
    for name, user in actors.items():
        response = call(issue(user), path)
        body = response.json()
        if name not in allowed:
            assert response.status_code == 403, (name, path, body)
            assert body["error"]["code"] in ("forbidden", "no_membership")
            continue
        is_detail = "{" in route
        if is_detail and name not in SEES_SITE_A:
            assert response.status_code == 404, (name, path)
            assert body["error"]["code"] == "not_found"
            assert str(story["patients"].uuid) not in response.content.decode()
            continue
        assert response.status_code == 200, (name, path, body)
        text = response.content.decode()
        if "summaries" in route:
            assert body["sites"] == (
                ["AAA"] if name in ("alice", "dave", "gina") else ["BBB"] if name == "bob" else ["AAA", "BBB"]
            )
        elif "worklists" not in route:
            sees = str(story["procedures"].uuid) in text or str(story["patients"].uuid) in text
            assert sees == (name in SEES_SITE_A), (name, path)


@pytest.mark.parametrize("route", routes())
def test_bad_expired_revoked_and_missing_tokens_get_401(route, story, alice):
    path = _path(route, story)
    expired = issue(alice, "expired")
    revoked = issue(alice, "revoked")
    with audit_context(label="test", reason="token state"):
        token = ApiToken.find(expired)
        token.expires_at = timezone.now() - dt.timedelta(seconds=1)
        token.save()
        ApiToken.find(revoked).revoke()
    cases = {
        None: "unauthenticated",
        "nonsense": "invalid_token",
        "pdva_00000000_forged": "invalid_token",
        expired: "token_expired",
        revoked: "token_revoked",
        expired[:-2] + "xx": "invalid_token",
    }
    for raw, code in cases.items():
        response = call(raw, path)
        assert response.status_code == 401, (raw, path)
        assert response.json()["error"]["code"] == code


def test_lists_are_paginated(story, nora):
    raw = issue(nora)
    first = call(raw, "/api/v1/events/deaths?limit=1&offset=0").json()
    assert first["count"] == 1 and len(first["items"]) == 1
    assert call(raw, "/api/v1/events/deaths?limit=1&offset=1").json()["items"] == []
    bad = call(raw, "/api/v1/patients?limit=-3")
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request" and "limit" in bad.json()["error"]["fields"]


def test_rate_limit_is_per_token(story, alice, settings):
    settings.PDVA_API_RATE_LIMIT = 3
    one, two = issue(alice, "one"), issue(alice, "two")
    statuses = [call(one, "/api/v1/patients").status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
    limited = call(one, "/api/v1/patients")
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited["Retry-After"]) >= 1
    assert call(two, "/api/v1/patients").status_code == 200


def test_tokens_are_hashed_at_rest(alice):
    raw = issue(alice)
    token = ApiToken.objects.get()
    assert raw not in (token.token_hash, token.prefix) and raw.split("_", 2)[2] not in token.token_hash
    assert ApiToken.find(raw) == token


def test_openapi_document_is_served_without_a_token(db):
    from django.test import Client

    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "pDVA Registry API"
