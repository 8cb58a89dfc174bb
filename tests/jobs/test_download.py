"""A job's page and result belong to the person who asked for it, while they may still see that report."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.jobs.models import Job
from pdva.jobs.runner import job_dir, private_dir


def finished_job(user, site, *, hours_ago: float = 0.0) -> Job:  # type: ignore[no-untyped-def]
    """A decision-aid job of ``user`` at ``site``, done, with its file (no PDF rendering needed here)."""
    job = Job.objects.create(
        kind="reports.decision_aid_pdf",
        params={"site_id": site.pk, "dialysis": False},
        requested_by=user,
        site=site,
        state=Job.SUCCEEDED,
        attempts=1,
        finished_at=timezone.now() - dt.timedelta(hours=hours_ago),
    )
    name = f"pdva-decision-aid-{site.ods_code}.pdf"
    path = private_dir(job_dir(job.pk)) / name
    path.write_bytes(b"%PDF-1.7 test")
    Job.objects.filter(pk=job.pk).update(
        result_name=name,
        result_path=f"{job.pk}/{name}",
        result_size=13,
        result_content_type="application/pdf",
        result_sha256="0" * 64,
    )
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_the_requester_downloads_and_the_download_is_audited(alice, site_a, login):
    job = finished_job(alice, site_a)
    client = login(alice)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f"/jobs/{job.pk}/download/" in page and "Done" in page
    listing = client.get("/jobs/").content.decode()
    assert job.result_name in listing and "hx-trigger" not in listing  # nothing running: no polling
    response = client.get(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == b"%PDF-1.7 test"
    assert job.result_name in response["Content-Disposition"]
    entry = AuditEntry.objects.get(action="jobs.result.downloaded")
    assert entry.actor_id == alice.pk and entry.site_id == site_a.pk and entry.object_id == str(job.pk)


@pytest.mark.django_db
def test_bob_at_site_b_cannot_see_or_download_alices_job(alice, bob, site_a, login):
    job = finished_job(alice, site_a)
    client = login(bob)
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 404
    assert job.result_name not in client.get("/jobs/").content.decode()
    assert not AuditEntry.objects.filter(action="jobs.result.downloaded").exists()


@pytest.mark.django_db
def test_a_national_auditor_cannot_download_a_site_users_job(alice, nora, site_a, login):
    job = finished_job(alice, site_a)
    assert login(nora).get(f"/jobs/{job.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_download_fails_closed_once_the_requester_lost_the_role(alice, site_a, login):
    job = finished_job(alice, site_a)
    client = login(alice)
    membership = alice.memberships.get()
    with audit_context(label="test:admin"):
        membership.active = False
        membership.save(reason="left the trust")
    assert client.get(f"/jobs/{job.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_a_result_moved_to_another_site_is_not_served(alice, site_a, site_b, login):
    job = finished_job(alice, site_a)
    Job.objects.filter(pk=job.pk).update(site=site_b)  # a row that no longer matches its parameters
    assert login(alice).get(f"/jobs/{job.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_an_expired_or_missing_result_is_gone(alice, site_a, login, settings):
    client = login(alice)
    old = finished_job(alice, site_a, hours_ago=settings.PDVA_JOBS_RESULT_HOURS + 1)
    assert client.get(f"/jobs/{old.pk}/download/").status_code == 410
    assert "expired" in client.get(f"/jobs/{old.pk}/").content.decode()
    lost = finished_job(alice, site_a)
    (job_dir(lost.pk) / lost.result_name).unlink()
    assert client.get(f"/jobs/{lost.pk}/download/").status_code == 410


@pytest.mark.django_db
def test_a_tampered_result_path_never_leaves_the_jobs_folder(alice, site_a, login):
    job = finished_job(alice, site_a)
    Job.objects.filter(pk=job.pk).update(result_path="../../etc/passwd")
    assert login(alice).get(f"/jobs/{job.pk}/download/").status_code == 410


@pytest.mark.django_db
def test_jobs_pages_need_sign_in(alice, site_a, client):
    job = finished_job(alice, site_a)
    for url in ("/jobs/", f"/jobs/{job.pk}/", f"/jobs/{job.pk}/download/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/" in response["Location"], url


@pytest.mark.django_db
def test_a_waiting_job_polls_and_a_finished_one_stops(alice, site_a, login, settings):
    settings.PDVA_JOBS_RUN = "worker"
    from pdva.jobs.services import enqueue

    job = enqueue("reports.decision_aid_pdf", user=alice, site_id=site_a.pk)
    client = login(alice)
    fragment = client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Queued" in fragment and f'hx-get="/jobs/{job.pk}/"' in fragment and "<html" not in fragment
    assert 'hx-trigger="every 2s"' in client.get("/jobs/").content.decode()
    Job.objects.filter(pk=job.pk).update(state=Job.FAILED, error="The report was not sent: no address")
    fragment = client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Failed" in fragment and "no address" in fragment and "hx-get" not in fragment
