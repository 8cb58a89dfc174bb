"""The request log: one JSON line per request, with a request id, and never a patient identifier."""

import json
import logging
import re

import pytest
from django.test import Client

from pdva.core.logging_json import (
    JsonLineFormatter,
    RequestIdFilter,
    bind_request_id,
    clean_request_id,
    loggable_path,
    query_keys,
    reset_request_id,
)

NHS_NUMBER = "9434765919"


@pytest.fixture
def request_lines(caplog):  # type: ignore[no-untyped-def]
    """The pdva.request records of the test, formatted as the production handler formats them."""
    caplog.set_level(logging.DEBUG, logger="pdva.request")
    formatter = JsonLineFormatter()

    def lines() -> list[dict]:
        return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "pdva.request"]

    return lines


# --- pure helpers ------------------------------------------------------------------------------------


def test_secret_url_arguments_are_replaced():
    assert loggable_path("/prom/p/eyJpIjo.xyz/", {"token": "eyJpIjo.xyz"}) == "/prom/p/<token>/"
    uuid = "4f1c7c9e-3d5e-4a57-9d0e-4ad1b7a1f0aa"
    assert loggable_path(f"/cases/case/{uuid}/", {"uuid": uuid}) == f"/cases/case/{uuid}/"


def test_unmatched_paths_keep_a_first_segment_without_digits_only():
    assert loggable_path(f"/cases/{NHS_NUMBER}/x", None) == "/cases/…"
    assert loggable_path(f"/{NHS_NUMBER}", None) == "/…"
    assert loggable_path("/favicon.ico", None) == "/favicon.ico"
    assert loggable_path("/", None) == "/"
    assert loggable_path("/static/pdva/registry.css", None) == "/static/pdva/registry.css"


def test_query_strings_keep_their_names_only():
    assert query_keys(["q", "page", "q"]) == ["page", "q"]
    assert query_keys([NHS_NUMBER + "@x y"]) == ["?"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc-123", "abc-123"),
        ("0f8e3c2a9d6b4e1f8a7c5b3d2e1f0a9b", "0f8e3c2a9d6b4e1f8a7c5b3d2e1f0a9b"),
        ("", None),
        (None, None),
        ("has space", None),
        ("x" * 129, None),
        ("<script>", None),
    ],
)
def test_incoming_request_ids_are_accepted_only_when_plain(raw, expected):
    assert clean_request_id(raw) == expected


def test_formatter_writes_one_json_line_in_utc():
    record = logging.LogRecord("pdva.request", logging.INFO, __file__, 1, "GET /\nx", None, None)
    record.created = 1_780_000_000.25
    record.fields = {"status": 200}
    token = bind_request_id("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        reset_request_id(token)
    line = JsonLineFormatter().format(record)
    assert "\n" not in line  # a newline in a message is escaped, never a second log line
    body = json.loads(line)
    assert body["time"] == "2026-05-28T20:26:40.250Z"
    assert body["request_id"] == "rid-1" and body["status"] == 200 and body["level"] == "INFO"


# --- through the middleware ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_request_logs_one_line_with_the_fields(request_lines, alice, login):
    client = login(alice)
    response = client.get(f"/cases/?q={NHS_NUMBER}&page=2", HTTP_X_REQUEST_ID="lb-7f3a")
    assert response.status_code == 200
    [line] = request_lines()
    assert line["event"] == "request" and line["method"] == "GET"
    assert line["path"] == "/cases/" and line["route"] == "cases/"
    assert line["query_keys"] == ["page", "q"]
    assert line["status"] == 200 and isinstance(line["duration_ms"], float)
    assert line["user_id"] == alice.pk
    assert line["request_id"] == "lb-7f3a"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    text = json.dumps(line)
    assert NHS_NUMBER not in text and "alice" not in text


@pytest.mark.django_db
def test_request_id_is_echoed_or_made(request_lines):
    client = Client()
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID="lb-1")["X-Request-ID"] == "lb-1"
    made = client.get("/accounts/login/")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    replaced = client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id\r\n")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert [line["request_id"] for line in request_lines()] == ["lb-1", made, replaced]


@pytest.mark.django_db
def test_patient_questionnaire_token_never_reaches_the_log(request_lines):
    token = "eyJpIjoxLCJuIjoiYWJjIn0:1tXyZ:secret-signature"
    Client().get(f"/prom/p/{token}/")
    [line] = request_lines()
    assert line["path"] == "/prom/p/<token>/"
    assert token not in json.dumps(line)


@pytest.mark.django_db
def test_not_found_addresses_are_cut_to_a_safe_segment(request_lines):
    response = Client().get(f"/patients/{NHS_NUMBER}/")
    assert response.status_code == 404
    [line] = request_lines()
    assert line["path"] == "/patients/…" and line["route"] is None and line["status"] == 404
    assert NHS_NUMBER not in json.dumps(line)


@pytest.mark.django_db
def test_api_requests_log_the_token_owner_by_id(request_lines, alice):
    from pdva.api.models import ApiToken
    from pdva.audit.context import audit_context

    with audit_context(label="test:factory", reason="test token"):
        _, secret = ApiToken.issue(alice, "test")
    Client().get("/api/v1/patients", HTTP_AUTHORIZATION=f"Bearer {secret}")
    [line] = request_lines()
    assert line["user_id"] == alice.pk and line["route"].startswith("api/v1/")
    assert secret not in json.dumps(line)
