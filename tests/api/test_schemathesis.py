"""schemathesis against the served OpenAPI document, through the Django WSGI app (no network server):
no server errors, no schema violations, for an authorised user and without a token."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from pdva.wsgi import application
from tests.api.conftest import issue


def _run(operation, headers):  # type: ignore[no-untyped-def]
    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):  # type: ignore[no-untyped-def]
        case.call_and_validate(headers=headers)

    check()


@pytest.fixture
def keep_test_connection():  # type: ignore[no-untyped-def]
    """The WSGI handler closes the database connection after each request; the test client avoids that by
    disconnecting close_old_connections, and so must we (the test's transaction lives on that connection)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_api_conforms_to_its_openapi_document(story, nora, alice, keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    for user in (nora, alice):
        headers = {"Authorization": f"Bearer {issue(user)}"}
        for operation in operations:
            _run(operation, headers)
    for operation in operations:
        _run(operation, {})
