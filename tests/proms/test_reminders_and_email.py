"""Emailing links: sends and failures are recorded; reminders after N days, then they stop."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.proms.models import PromMessage
from pdva.proms.services import links
from tests.proms.conftest import issue_link


@pytest.mark.django_db
def test_emailed_link_is_sent_and_recorded(patient) -> None:
    invitation = issue_link(patient, channel="email", email="patient@example.org")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["patient@example.org"]
    assert links.link_for(invitation) in mail.outbox[0].body
    message = PromMessage.objects.get()
    assert (message.kind, message.status) == ("invitation", "sent")
    assert AuditEntry.objects.filter(action="proms.invitation.sent").exists()
    # The address is stored encrypted and only a fingerprint reaches the audit log.
    assert "patient@example.org" not in invitation.email_enc
    created = AuditEntry.objects.get(action="proms.prominvitation.created")
    assert "patient@example.org" not in str(created.after)


@pytest.mark.django_db
@override_settings(EMAIL_BACKEND="pdva.core.mail.NotConfiguredBackend")
def test_missing_email_configuration_is_a_recorded_failure(patient) -> None:
    issue_link(patient, channel="email", email="patient@example.org")
    message = PromMessage.objects.get()
    assert message.status == "failed" and "No mail server configured" in message.error
    assert AuditEntry.objects.filter(action="proms.invitation.failed").exists()


@pytest.mark.django_db
@override_settings(PDVA_PROM_EMAIL_TEMPLATES="proms/no_such_folder")
def test_missing_template_is_a_recorded_failure(patient) -> None:
    issue_link(patient, channel="email", email="patient@example.org")
    message = PromMessage.objects.get()
    assert message.status == "failed" and "TemplateDoesNotExist" in message.error
    assert not mail.outbox


@pytest.mark.django_db
@override_settings(PDVA_PROM_REMINDER_DAYS=7, PDVA_PROM_MAX_REMINDERS=2)
def test_reminders_after_n_days_then_stop(patient) -> None:
    start = timezone.now() - dt.timedelta(days=20)
    invitation = issue_link(patient, channel="email", email="patient@example.org", now=start)
    mail.outbox.clear()

    def run(day: int) -> dict[str, int]:
        with audit_context(label="system:test", reason="reminders"):
            return links.send_due_reminders(start + dt.timedelta(days=day))

    assert run(6) == {"sent": 0, "failed": 0, "stopped": 0}  # too early
    assert run(7)["sent"] == 1
    assert run(7)["sent"] == 0  # idempotent the same day
    assert run(13)["sent"] == 0
    assert run(14)["sent"] == 1
    assert run(21) == {"sent": 0, "failed": 0, "stopped": 1}  # maximum reached: stop, and say so
    assert run(28) == {"sent": 0, "failed": 0, "stopped": 0}
    assert len(mail.outbox) == 2
    invitation.refresh_from_db()
    assert invitation.reminders_sent == 2 and invitation.reminders_stopped
    kinds = list(PromMessage.objects.values_list("kind", "status"))
    assert kinds == [
        ("invitation", "sent"),
        ("reminder", "sent"),
        ("reminder", "sent"),
        ("reminder", "stopped"),
    ]


@pytest.mark.django_db
def test_no_reminder_after_completion_or_for_printed_links(patient) -> None:
    start = timezone.now() - dt.timedelta(days=20)
    emailed = issue_link(patient, channel="email", email="patient@example.org", now=start)
    issue_link(patient, channel="print", now=start)
    links.complete(emailed, {"eq5d5l": {}, "vascuqol6": {}})
    with audit_context(label="system:test"):
        assert links.send_due_reminders(start + dt.timedelta(days=8))["sent"] == 0
