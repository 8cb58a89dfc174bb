"""Malformed input is a structured 4xx, never a server error (PostgreSQL refuses NUL bytes in text)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.test import Client

from tests.api.conftest import call, issue


def test_a_malformed_site_filter_is_a_422_with_the_field_named(story, alice):
    token = issue(alice)
    # NUL characters are refused before routing (400); other malformed codes by the schema (422).
    for bad, status in (("\x00", 400), ("A\x00B", 400), ("R J1", 422), ("TOOLONGCODE", 422), ("a;b", 422)):
        response = call(token, f"/api/v1/patients?{urlencode({'site': bad})}")
        assert response.status_code == status, bad
        assert "site" in response.json()["error"]["fields"]
    good = call(token, f"/api/v1/patients?site={story['patients'].site.ods_code}")
    assert good.status_code == 200 and good.json()["count"] == 1


def test_a_malformed_token_is_a_401(story):
    for raw in ("pdva_\x00_x", "pdva_abc\x00def_ghi", "x" * 500):
        response = Client().get("/api/v1/patients", HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"
