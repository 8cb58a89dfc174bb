"""/health/live and /health/ready: what a load balancer and an orchestrator ask before sending users."""

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import OperationalError
from django.test import Client

from pdva.core import health
from tests.factories import PatientFactory, make_identity


def ready(client: Client, **headers):  # type: ignore[no-untyped-def]
    response = client.get("/health/ready", **headers)
    return response, response.json()


def test_live_answers_without_the_database(monkeypatch):
    """No database access at all: a broken database must not get the process restarted."""

    def no_database(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the liveness probe touched the database")

    monkeypatch.setattr(connection, "ensure_connection", no_database)
    response = Client().get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_old_healthz_address_still_answers():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.django_db
def test_ready_reports_every_check():
    response, body = ready(Client())
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "migrations", "jobs", "keys", "audit_checkpoints"}
    assert body["checks"]["database"] == {"status": "ok", "detail": connection.vendor}
    assert body["checks"]["jobs"]["status"] in {"ok", "not configured"}


@pytest.mark.django_db
def test_probes_need_no_allowed_host_nor_https(settings):
    """Load balancers probe over plain HTTP with their own address as Host."""
    settings.ALLOWED_HOSTS = ["registry.example.nhs.uk"]
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/health/live", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/health/ready", HTTP_HOST="10.0.0.7:8000").status_code == 200
    # ...while every other page still refuses the unknown host.
    assert client.get("/accounts/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400


@pytest.mark.django_db
def test_database_unreachable_is_503_naming_it(monkeypatch):
    def refused(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("connection to server at 10.0.0.5 failed: Connection refused")

    monkeypatch.setattr(connection, "ensure_connection", refused)
    response, body = ready(Client())
    assert response.status_code == 503
    assert body["status"] == "unavailable" and body["failing"] == ["database"]
    assert body["checks"]["database"]["detail"] == "database unreachable (OperationalError)"
    assert "10.0.0.5" not in response.content.decode()  # the server's address stays in the log
    assert body["checks"]["migrations"]["status"] == "skipped"


@pytest.mark.django_db
def test_missing_migration_is_503_naming_it():
    applied = MigrationRecorder.Migration.objects.filter(app="registry").order_by("-id").first()
    assert applied is not None
    MigrationRecorder.Migration.objects.filter(pk=applied.pk).delete()  # rolled back after the test
    response, body = ready(Client())
    assert response.status_code == 503
    assert body["failing"] == ["migrations"]
    detail = body["checks"]["migrations"]["detail"]
    assert f"registry.{applied.name}" in detail and "pdva migrate" in detail


@pytest.mark.django_db
def test_missing_key_is_503_naming_it(settings):
    settings.PDVA_AUDIT_KEY = ""
    response, body = ready(Client())
    assert response.status_code == 503 and body["failing"] == ["keys"]
    assert body["checks"]["keys"]["detail"] == "not configured: PDVA_AUDIT_KEY"


@pytest.mark.django_db
def test_audit_key_that_does_not_match_the_trail_is_503(settings):
    PatientFactory()  # writes audit entries sealed with the configured key
    settings.PDVA_AUDIT_KEY = "some-other-key"
    response, body = ready(Client())
    assert response.status_code == 503 and body["failing"] == ["keys"]
    assert "PDVA_AUDIT_KEY does not match" in body["checks"]["keys"]["detail"]


@pytest.mark.django_db
def test_identity_key_that_does_not_decrypt_is_503(settings):
    from cryptography.fernet import Fernet

    make_identity(PatientFactory())
    settings.PDVA_IDENTITY_KEY = Fernet.generate_key().decode()
    response, body = ready(Client())
    assert response.status_code == 503 and body["failing"] == ["keys"]
    assert "PDVA_IDENTITY_KEY does not decrypt" in body["checks"]["keys"]["detail"]


@pytest.mark.django_db
def test_job_queue_not_installed_is_reported_not_failed(monkeypatch):
    monkeypatch.setattr(health, "jobs_configured", lambda: False)
    response, body = ready(Client())
    assert response.status_code == 200
    assert body["checks"]["jobs"]["status"] == "not configured"


@pytest.mark.django_db
def test_job_queue_unreachable_is_503(monkeypatch):
    if not health.jobs_configured():
        pytest.skip("pdva.jobs is not installed in this build")
    import pdva.jobs.services

    monkeypatch.setattr(pdva.jobs.services, "queue_health", lambda: (False, "job queue unreachable (X)"))
    response, body = ready(Client())
    assert response.status_code == 503 and body["failing"] == ["jobs"]
    assert body["checks"]["jobs"]["detail"] == "job queue unreachable (X)"


def test_request_log_keeps_successful_probes_out_of_the_info_log(caplog):
    caplog.set_level("DEBUG", logger="pdva.request")
    Client().get("/health/live")
    probe = [r for r in caplog.records if r.name == "pdva.request"]
    assert probe and probe[-1].levelname == "DEBUG"
    assert probe[-1].fields["path"] == "/health/live" and probe[-1].fields["route"] == "health/live"


# --- the error page ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_database_down_gives_a_plain_error_page_not_a_traceback(monkeypatch, alice, login):
    client = login(alice)
    client.raise_request_exception = False

    def refused(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("connection to server at 10.0.0.5 failed")

    monkeypatch.setattr(connection, "ensure_connection", refused)
    response = client.get("/cases/", HTTP_X_REQUEST_ID="ref-123")
    page = response.content.decode()
    assert response.status_code == 503
    assert "The registry is unavailable" in page and "ref-123" in page
    assert "Traceback" not in page and "10.0.0.5" not in page and "OperationalError" not in page

    api = client.get("/api/v1/patients", HTTP_AUTHORIZATION="Bearer pdva_x", HTTP_X_REQUEST_ID="ref-124")
    assert api.status_code == 503
    assert api.json()["error"] == {
        "code": "unavailable",
        "message": "the registry's database is unavailable; try again later",
        "request_id": "ref-124",
    }


def test_other_server_errors_give_the_generic_page(rf):
    from pdva.core.errors import server_error

    request = rf.get("/cases/")
    request.request_id = "ref-9"
    try:
        raise RuntimeError("a bug with details")
    except RuntimeError:
        response = server_error(request)  # as Django calls it, while handling the exception
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page and "ref-9" in page and "a bug" not in page
