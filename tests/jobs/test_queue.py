"""Enqueue -> run -> state and file, on each backend; the permission asked again when a job runs; a job
interrupted or taken over completes once."""

from __future__ import annotations

import os
import stat

import pytest
from django.core.management import call_command

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.jobs import runner, services
from pdva.jobs.models import Job
from pdva.jobs.registry import JobRefused
from tests.jobs.conftest import TRANSACTIONAL


@TRANSACTIONAL
def test_a_queued_job_runs_once_and_keeps_its_result(mode, jobs_dir):
    job = services.enqueue("jobs.probe", seconds=0)
    assert job.state == Job.QUEUED and job.attempts == 0 and job.requested_by is None
    if mode == "queue":
        assert job.queue_job_id is not None  # deferred to procrastinate with the row
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED and job.attempts == 1 and job.error == ""
    assert job.started_at <= job.finished_at and job.finished_at.tzinfo is not None
    path = services.result_file(job)
    assert path.read_text().startswith(f"probe {job.pk} finished")
    assert job.result_size == path.stat().st_size and len(job.result_sha256) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    services.run_until_idle()  # nothing left: the job does not run again
    assert runner.execute(job.pk).state == Job.SUCCEEDED  # a duplicate hand-over is a no-op
    job.refresh_from_db()
    assert job.attempts == 1


@TRANSACTIONAL
def test_an_export_job_runs_as_the_requester_in_their_scope(mode, rita):
    from pdva.registry.synthetic import seed_cohort

    seed_cohort(sites=2, patients=4, years=1, seed=3)
    job = services.enqueue("exports.export", user=rita, kind="research", fmt="csv")
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED, job.error
    assert job.result_name == "pdva-research.zip" and job.result_content_type == "application/zip"
    assert services.result_file(job).read_bytes()[:2] == b"PK"
    entry = AuditEntry.objects.get(action="exports.research.created")
    assert entry.actor_id == rita.pk and entry.after["sha256"] == job.result_sha256


@TRANSACTIONAL
def test_permission_is_asked_again_when_the_job_runs(mode, alice, site_a):
    job = services.enqueue("reports.decision_aid_pdf", user=alice, site_id=site_a.pk, dialysis=False)
    membership = alice.memberships.get()
    with audit_context(label="test:admin"):
        membership.active = False
        membership.save(reason="left the trust")
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.FAILED and job.error == "This report is not available to you."
    assert job.result_path == "" and job.attempts == 1  # refusals are not retried


@pytest.mark.django_db
def test_asking_is_refused_outside_the_requesters_scope(alice, site_b):
    with pytest.raises(JobRefused):
        services.enqueue("reports.decision_aid_pdf", user=alice, site_id=site_b.pk)
    with pytest.raises(JobRefused, match="scheduled job"):
        services.enqueue("jobs.probe", user=alice)
    with pytest.raises(JobRefused, match="Sign in"):
        services.enqueue("reports.national_pdf")
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_parameters_are_ids_and_options_never_content(alice, site_a):
    with pytest.raises(TypeError, match="JSON scalar"):
        services.enqueue("jobs.probe", seconds={"nested": 1})
    with pytest.raises(ValueError, match="pass files as inputs"):
        services.enqueue("jobs.probe", note="x" * 500)
    with pytest.raises(KeyError, match="unknown job kind"):
        services.enqueue("reports.nonexistent", user=alice)
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_job_left_running_by_a_dead_process_is_taken_back(worker_mode):
    job = services.enqueue("jobs.probe", seconds=0)
    Job.objects.filter(pk=job.pk).update(
        state=Job.RUNNING, attempts=1, runner=f"{os.uname().nodename}:999999"
    )
    assert runner.requeue_orphans() == 1
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED and job.attempts == 2


@pytest.mark.django_db
def test_a_job_left_running_by_a_live_process_is_not_taken(worker_mode):
    job = services.enqueue("jobs.probe", seconds=0)
    Job.objects.filter(pk=job.pk).update(state=Job.RUNNING, attempts=1, runner=runner.this_runner())
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.RUNNING and job.attempts == 1


@pytest.mark.django_db
def test_an_attempt_taken_over_cannot_complete_the_job(worker_mode):
    job = services.enqueue("jobs.probe", seconds=0)
    slow = runner.claim(job.pk)  # attempt 1: its worker goes quiet and is presumed dead
    fresh = runner.claim(job.pk, take_over_running=True)  # attempt 2, handed over by the queue
    assert (slow.attempts, fresh.attempts) == (1, 2)
    assert runner.run_claimed(fresh).state == Job.SUCCEEDED
    assert runner.run_claimed(slow).state == runner.SUPERSEDED  # the slow one wakes up: its result is dropped
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED and job.attempts == 2 and job.result["attempt"] == 2
    assert not list(services.result_file(job).parent.glob(".attempt-*"))


@pytest.mark.django_db
def test_a_job_interrupted_too_often_fails_with_a_reason(worker_mode):
    job = services.enqueue("jobs.probe", seconds=0)
    Job.objects.filter(pk=job.pk).update(attempts=job.max_attempts)
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.FAILED and "interrupted" in job.error


@pytest.mark.django_db
def test_probe_command_waits_for_the_job(settings, capsys):
    settings.PDVA_JOBS_RUN = "inline"
    call_command("jobs", "probe", "--seconds", "0")
    assert "probe job" in capsys.readouterr().out
    assert Job.objects.get().state == Job.SUCCEEDED
