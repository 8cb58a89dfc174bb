"""The SQLite demo's backend: after the transaction that queued a job commits, this process runs it on its
background thread (no worker, no server). Also on PostgreSQL, where it is an option."""

from __future__ import annotations

import os

import pytest
from django.db import transaction

from pdva.jobs import runner, services
from pdva.jobs.models import Job


@pytest.mark.django_db(transaction=True)
def test_a_job_runs_on_this_processs_thread_after_commit(settings):
    settings.PDVA_JOBS_RUN = "thread"
    with transaction.atomic():
        job = services.enqueue("jobs.probe", seconds=0)
        assert Job.objects.get(pk=job.pk).state == Job.QUEUED  # nothing runs before the commit
    job = services.wait_for(job, timeout=60)
    assert job.state == Job.SUCCEEDED and job.runner == runner.this_runner()
    assert job.runner.endswith(f":{os.getpid()}")


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_enqueue_leaves_nothing_to_run(settings):
    settings.PDVA_JOBS_RUN = "thread"
    with pytest.raises(RuntimeError), transaction.atomic():
        services.enqueue("jobs.probe", seconds=0)
        raise RuntimeError("the page failed after queueing")
    assert not Job.objects.exists()
