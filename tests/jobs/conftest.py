"""Job queue fixtures: each backend a test can run its jobs on, and a clean procrastinate schema."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from pdva.jobs.registry import JobKind, register

POSTGRESQL = connection.vendor == "postgresql"
PROCRASTINATE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def _boom(ctx):  # type: ignore[no-untyped-def]
    raise ZeroDivisionError(f"division by zero while handling patient {ctx.params.get('nhs', '')}")


# A job that always fails for a reason nobody anticipated (its message even carries an NHS number).
BOOM = register(JobKind("tests.boom", "Test job that always fails", _boom, system_label="system:test"))


@pytest.fixture(autouse=True)
def jobs_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.PDVA_JOBS_DIR = tmp_path / "jobs"
    settings.PDVA_JOBS_RETRY_SECONDS = 0  # retries are due at once, so a run until idle sees them all
    return settings.PDVA_JOBS_DIR


def truncate_queue() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(PROCRASTINATE_TABLES) + " RESTART IDENTITY CASCADE")


# Tests that use ``mode`` are marked django_db(transaction=True): procrastinate's worker uses its own
# connections, so what the test writes must be committed to be seen.
TRANSACTIONAL = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue_mode(settings):  # type: ignore[no-untyped-def]
    """procrastinate on PostgreSQL: jobs run by a real worker in this process."""
    if not POSTGRESQL:
        pytest.skip("procrastinate needs PostgreSQL")
    settings.PDVA_JOBS_RUN = "queue"
    truncate_queue()
    yield "queue"
    truncate_queue()  # unmanaged tables: Django's flush does not empty them


@pytest.fixture
def worker_mode(settings):  # type: ignore[no-untyped-def]
    """The Job rows as the queue, run by `pdva worker` (SQLite, or PostgreSQL without procrastinate)."""
    settings.PDVA_JOBS_RUN = "worker"
    return "worker"


@pytest.fixture(params=["worker", "queue"])
def mode(request):  # type: ignore[no-untyped-def]
    """Each backend available on this database: the local runner always, procrastinate on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_mode")


@pytest.fixture
def invitation(site_a, alice):  # type: ignore[no-untyped-def]
    """An emailed questionnaire link at site A, issued by alice without sending it yet."""
    from pdva.audit.context import audit_context
    from pdva.proms.models import PromInvitation
    from pdva.proms.services import links
    from tests.factories import PatientFactory
    from tests.followup.conftest import make_procedure

    patient = PatientFactory(site=site_a)
    procedure = make_procedure(site_a, dt.date(2024, 6, 3), patient=patient)
    with audit_context(alice):
        return links.issue(
            patient=patient,
            procedure=procedure,
            timepoint="m6",
            instruments=["pain_nrs"],
            channel=PromInvitation.EMAIL,
            email="patient@example.org",
            base_url="https://registry.example.nhs.uk/",
            created_by=alice,
            send_now=False,
        )
