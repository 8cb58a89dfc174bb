"""Uploads and patient emails as jobs: the file is kept beside the job (never in its parameters) and removed
when done; a bad file fails the job with every problem and its line number; nothing is imported twice."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core import mail

from pdva.followup.models import LinkageBatch
from pdva.jobs import runner, services
from pdva.jobs.models import Job
from pdva.proms.models import PromMessage
from tests.factories import PatientFactory, make_identity
from tests.followup.conftest import make_procedure
from tests.followup.test_linkage_import import nhs
from tests.jobs._client import job_of

PROC = dt.date(2024, 6, 3)


def upload(name: str, text: str) -> io.BytesIO:
    f = io.BytesIO(text.encode())
    f.name = name
    return f


@pytest.mark.django_db
def test_linkage_upload_is_a_job_whose_file_is_not_in_its_parameters(worker_mode, dave, site_a, login):
    patient = PatientFactory(site=site_a)
    number = nhs(600000002)
    make_identity(patient, nhs_number=number)
    make_procedure(site_a, PROC, patient=patient)
    client = login(dave)
    response = client.post(
        "/followup/linkage/",
        {"kind": "deaths", "file": upload("deaths.csv", f"nhs_number,date_of_death\n{number},2025-02-01\n")},
    )
    job = job_of(response)
    assert (
        job.state == Job.QUEUED and number not in str(job.params) and job.params["filename"] == "deaths.csv"
    )
    stored = runner.job_dir(job.pk) / runner.INPUT_DIR / "upload.csv"
    assert number in stored.read_text()
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED and job.result["proposed"] == 1
    assert LinkageBatch.objects.get().pk == job.result["batch_id"]
    assert not stored.exists()  # the upload is gone once the job is done
    assert runner.execute(job.pk).state == Job.SUCCEEDED and LinkageBatch.objects.count() == 1


@pytest.mark.django_db
def test_a_bad_linkage_file_fails_with_line_numbers_and_no_identifiers(dave, site_a, login):
    client = login(dave)
    text = "nhs_number,date_of_death\n943 476 5918,2025-02-01\n9434765919,not a date\n"
    response = client.post("/followup/linkage/", {"kind": "deaths", "file": upload("d.csv", text)})
    job = job_of(response)
    assert job.state == Job.FAILED and job.error.startswith("Nothing was imported")
    lines = [e["line"] for e in job.result["errors"]]
    assert lines == [2, 3]
    assert "5918" not in str(job.result) and "5918" not in job.error
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Nothing was imported" in page and "is not a date" in page
    assert not LinkageBatch.objects.exists()


@pytest.mark.django_db
def test_resending_a_link_queues_an_email_job(worker_mode, invitation, alice, bob, login):
    assert not PromMessage.objects.exists()  # issued without sending
    client = login(alice)
    response = client.post(f"/prom/links/{invitation.pk}/resend/", follow=True)
    assert b"being sent in the background" in response.content
    job = Job.objects.get(kind="proms.send_link")
    assert job.params == {"invitation_id": invitation.pk, "message": "invitation"}
    assert job.site_id == invitation.patient.site_id and mail.outbox == []
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED and len(mail.outbox) == 1
    assert mail.outbox[0].to == ["patient@example.org"]
    assert PromMessage.objects.get().status == PromMessage.SENT
    with pytest.raises(services.JobRefused):  # another site's clinician cannot ask for it
        services.enqueue("proms.send_link", user=bob, invitation_id=invitation.pk, message="invitation")


@pytest.mark.django_db
def test_a_failed_patient_email_names_the_failure_not_the_address(invitation, alice, settings):
    settings.EMAIL_BACKEND = "pdva.core.mail.NotConfiguredBackend"
    job = services.enqueue("proms.send_link", user=alice, invitation_id=invitation.pk, message="invitation")
    assert job.state == Job.FAILED and job.attempts == 1  # a configuration problem is not retried
    assert "EmailNotConfigured" in job.error and "patient@example.org" not in job.error
    assert PromMessage.objects.get().status == PromMessage.FAILED
