"""A transient failure (mail server down) is retried with backoff and every attempt recorded; a job that keeps
failing, or fails for good, shows its error to the person who asked, without a traceback or identifier."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.jobs import services
from pdva.jobs.models import Job
from pdva.proms.models import PromMessage
from pdva.registry.models import SiteGovernance
from pdva.reports.models import ReportSend
from tests.factories import ProcedureFactory
from tests.jobs.conftest import TRANSACTIONAL


class DownBackend(BaseEmailBackend):
    """A mail server that drops the connection every time."""

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class FlakyBackend(LocmemBackend):
    """Down for the first message, then delivering (to django.core.mail.outbox)."""

    calls = 0

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        if type(self).calls == 1:
            raise smtplib.SMTPResponseException(421, b"Service not available, try again later")
        return super().send_messages(email_messages)


@pytest.fixture
def governed_site(site_a):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)
    with audit_context(label="test:factory", reason="fixture"):
        SiteGovernance(
            site=site_a, governance_lead_name="Gina", governance_lead_email="gina@example.nhs.uk"
        ).save()
    return site_a


@TRANSACTIONAL
def test_an_email_that_keeps_failing_is_retried_then_shown_failed(mode, invitation, alice, settings, login):
    settings.EMAIL_BACKEND = "tests.jobs.test_retries.DownBackend"
    settings.PDVA_JOBS_MAX_ATTEMPTS = 3
    job = services.enqueue("proms.send_link", user=alice, invitation_id=invitation.pk, message="invitation")
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.FAILED and job.attempts == 3
    assert "did not succeed after 3 attempts" in job.error and "SMTPServerDisconnected" in job.error
    # every attempt is on the record, on the link's page and in the audit log
    assert PromMessage.objects.filter(invitation=invitation, status="failed").count() == 3
    assert AuditEntry.objects.filter(action="proms.invitation.failed").count() == 3
    page = login(alice).get(f"/jobs/{job.pk}/").content.decode()
    assert "did not succeed after 3 attempts" in page and "Traceback" not in page


@TRANSACTIONAL
def test_a_transient_failure_then_success_sends_once(mode, governed_site, gina, settings):
    settings.EMAIL_BACKEND = "tests.jobs.test_retries.FlakyBackend"
    FlakyBackend.calls = 0
    job = services.enqueue("reports.governance_send", user=gina, site_id=governed_site.pk, period="2025Q4")
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED and job.attempts == 2 and job.result["status"] == "sent"
    assert len(mail.outbox) == 1 and mail.outbox[0].attachments[0][1][:5] == b"%PDF-"
    assert list(ReportSend.objects.order_by("attempted_at", "id").values_list("status", flat=True)) == [
        "failed",
        "sent",
    ]


@pytest.mark.django_db
def test_backoff_between_attempts_is_recorded_on_the_job(worker_mode, invitation, alice, settings):
    settings.EMAIL_BACKEND = "tests.jobs.test_retries.DownBackend"
    settings.PDVA_JOBS_RETRY_SECONDS = 30
    job = services.enqueue("proms.send_link", user=alice, invitation_id=invitation.pk, message="invitation")
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.QUEUED and job.attempts == 1  # waiting: the next attempt is not due yet
    remaining = (job.run_after - timezone.now()).total_seconds()
    assert 15 < remaining <= 30  # the first backoff (PDVA_JOBS_RETRY_SECONDS), counted from the failure
    assert "Attempt 1 of 5 did not succeed" in job.error and "tried again from" in job.error
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now())  # time passes
    services.run_until_idle()
    job.refresh_from_db()
    assert job.attempts == 2 and job.state == Job.QUEUED
    assert (job.run_after - timezone.now()).total_seconds() > 45  # the second backoff is twice the first


@TRANSACTIONAL
def test_an_unexpected_error_fails_at_once_without_details(mode, caplog):
    job = services.enqueue("tests.boom", nhs="9434765919")
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.FAILED and job.attempts == 1
    assert "ZeroDivisionError" in job.error and f"job {job.pk}" in job.error
    assert (
        "9434765919" not in job.error and "Traceback" not in job.error and "division by zero" not in job.error
    )
