"""queue_health() for /health/ready: whether jobs can be queued and picked up, in one line."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from pdva.jobs import services
from pdva.jobs.models import Job
from tests.jobs.conftest import TRANSACTIONAL


@pytest.mark.django_db
def test_local_queue_is_healthy_and_says_who_runs_jobs(worker_mode):
    services.enqueue("jobs.probe", seconds=0)
    ok, message = services.queue_health()
    assert ok and "`pdva worker`" in message and "1 waiting" in message


@TRANSACTIONAL
def test_procrastinate_queue_is_healthy_when_reachable(queue_mode):
    services.enqueue("jobs.probe", seconds=0)
    ok, message = services.queue_health()
    assert ok and "procrastinate" in message and "1 job(s) waiting" in message and "0 worker(s)" in message


@pytest.mark.django_db
def test_an_unreachable_queue_is_reported_not_raised(monkeypatch):
    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(Job.objects, "filter", down)
    ok, message = services.queue_health()
    assert not ok and message == "job queue unreachable (OperationalError)"
