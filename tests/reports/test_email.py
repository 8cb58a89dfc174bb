"""Scheduled governance report: sends and failures are recorded and shown."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.registry.models import SiteGovernance
from pdva.reports.models import ReportSend
from tests.factories import ProcedureFactory


@pytest.fixture
def governed_site(site_a):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)
    with audit_context(label="test:factory", reason="fixture"):
        SiteGovernance(
            site=site_a, governance_lead_name="Gina", governance_lead_email="gina@example.nhs.uk"
        ).save()
    return site_a


def test_email_sends_pdf_to_governance_lead_and_records_it(governed_site):  # type: ignore[no-untyped-def]
    call_command("report", "governance", "--site", "AAA", "--period", "2025Q4", "--email")
    assert len(mail.outbox) == 1
    msg = mail.outbox[0]
    assert msg.to == ["gina@example.nhs.uk"] and "2025Q4" in msg.subject
    name, content, mimetype = msg.attachments[0]
    assert mimetype == "application/pdf" and content[:5] == b"%PDF-"
    send = ReportSend.objects.get()
    assert send.status == "sent" and send.period == "2025Q4" and len(send.pdf_sha256) == 64
    assert AuditEntry.objects.filter(action="reports.governance.sent").exists()


def test_missing_email_configuration_is_a_recorded_failure(governed_site, settings):  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = "pdva.core.mail.NotConfiguredBackend"
    with pytest.raises(CommandError, match="could not be sent"):
        call_command("report", "governance", "--site", "AAA", "--email")
    send = ReportSend.objects.get()
    assert send.status == "failed" and "not configured" in send.error
    assert AuditEntry.objects.filter(action="reports.governance.failed").exists()
    assert mail.outbox == []


def test_missing_recipient_is_recorded_and_shown_on_the_dashboard(site_a, gina, login):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)
    c = login(gina)
    resp = c.post(reverse("reports:governance_send", args=[site_a.pk]), HTTP_HX_REQUEST="true")
    assert resp.status_code == 200 and b"failed" in resp.content and b"governance lead email" in resp.content
    dash = c.get(reverse("reports:dashboard", args=[site_a.pk]))
    assert b"no governance lead email address" in dash.content


def test_clinician_cannot_trigger_a_send(site_a, alice, login):  # type: ignore[no-untyped-def]
    resp = login(alice).post(reverse("reports:governance_send", args=[site_a.pk]))
    assert resp.status_code == 404 and not ReportSend.objects.exists()
