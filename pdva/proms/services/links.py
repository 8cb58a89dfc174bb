"""Patient self-completion links: issue, email, resolve, complete, remind.

A link is ``/prom/p/<token>/`` where the token is the invitation id and a random nonce, signed with the
project's secret key (django.core.signing). It is single-use (``used_at``), expires (``expires_at``), and is
revoked by changing the nonce. The completion is audited as the patient: "patient:<registry id> via link <id>".
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.audit.models import record
from pdva.core.mail import EmailNotConfigured, TransientMailError, email_configured, is_transient
from pdva.proms.models import PromInvitation, PromMessage
from pdva.proms.services.scoring import record_administration
from pdva.registry.instruments import validate_responses
from pdva.registry.models import PromAdministration

SALT = "pdva.proms.link"


def link_days() -> int:
    return int(getattr(settings, "PDVA_PROM_LINK_DAYS", 28))


def reminder_after_days() -> int:
    return int(getattr(settings, "PDVA_PROM_REMINDER_DAYS", 7))


def max_reminders() -> int:
    return int(getattr(settings, "PDVA_PROM_MAX_REMINDERS", 2))


def email_template_dir() -> str:
    return str(getattr(settings, "PDVA_PROM_EMAIL_TEMPLATES", "proms/email"))


def _signer() -> signing.Signer:
    # No timestamp in the token: expiry is the invitation's own expires_at, and one invitation must always
    # give one link (the email, the reminders and the staff page agree, whenever each is made).
    return signing.Signer(salt=SALT)


def token_for(invitation: PromInvitation) -> str:
    return _signer().sign_object({"i": invitation.pk, "n": invitation.nonce}, compress=True)


def _token_data(token: str) -> Any:
    if token.count(":") == 2:  # value:timestamp:signature, as links issued before December 2026 were
        return signing.loads(token, salt=SALT)
    return _signer().unsign_object(token)


def link_for(invitation: PromInvitation) -> str:
    path = reverse("proms:patient_form", args=[token_for(invitation)])
    return invitation.base_url.rstrip("/") + path


@dataclass(frozen=True)
class Resolved:
    invitation: PromInvitation | None
    state: str  # open, used, expired, revoked, invalid


def resolve(token: str) -> Resolved:
    try:
        data = _token_data(token)
        pk, nonce = int(data["i"]), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return Resolved(None, "invalid")
    invitation = PromInvitation.objects.alive().select_related("patient").filter(pk=pk).first()
    if invitation is None:
        return Resolved(None, "invalid")
    if not hmac.compare_digest(invitation.nonce, nonce):
        return Resolved(invitation, "revoked")
    return Resolved(invitation, invitation.state)


def issue(
    *,
    patient: Any,
    procedure: Any,
    timepoint: str,
    instruments: list[str],
    channel: str,
    base_url: str,
    created_by: Any = None,
    email: str = "",
    timepoint_year: int | None = None,
    now: dt.datetime | None = None,
    send_now: bool = True,
) -> PromInvitation:
    """Create a link (inside the caller's audit context); email it now if the channel is email, unless
    ``send_now`` is False (the web page queues the email as a background job)."""
    now = now or timezone.now()
    invitation = PromInvitation(
        patient=patient,
        procedure=procedure,
        timepoint=timepoint,
        timepoint_year=timepoint_year,
        instruments=instruments,
        channel=channel,
        base_url=base_url,
        expires_at=now + dt.timedelta(days=link_days()),
        created_by=created_by,
    )
    invitation.email = email
    invitation.save(reason="PROM link issued")
    if channel == PromInvitation.EMAIL and send_now:
        send(invitation, PromMessage.INVITATION, now=now)
    return invitation


def revoke(invitation: PromInvitation, *, reason: str) -> None:
    from pdva.proms.models import new_nonce

    invitation.revoked_at = timezone.now()
    invitation.nonce = new_nonce()
    invitation.save(reason=reason)


def send(
    invitation: PromInvitation, kind: str, *, now: dt.datetime | None = None, raise_transient: bool = False
) -> PromMessage:
    """Email the link. A missing mail configuration or template is a recorded failure, never silence.

    ``raise_transient``: after recording a failure that may pass (server unreachable, 4xx), raise
    TransientMailError so a background job can try again later.
    """
    now = now or timezone.now()
    error = ""
    transient: Exception | None = None
    try:
        if not email_configured():
            raise EmailNotConfigured("No mail server configured: set PDVA_EMAIL_HOST (or PDVA_EMAIL_BACKEND)")
        body = render_to_string(
            f"{email_template_dir()}/{kind}.txt",
            {"link": link_for(invitation), "expires": invitation.expires_at, "invitation": invitation},
        )
        EmailMessage(
            subject="Your questionnaire from the vascular team",
            body=body,
            to=[invitation.email],
        ).send(fail_silently=False)
    except Exception as exc:  # recorded and shown: every failure, whatever its cause
        error = f"{type(exc).__name__}: {exc}"
        transient = exc if is_transient(exc) else None
    status = PromMessage.FAILED if error else PromMessage.SENT
    message = PromMessage.objects.create(invitation=invitation, kind=kind, status=status, at=now, error=error)
    if status == PromMessage.SENT:
        invitation.last_contact_at = now
        if kind == PromMessage.REMINDER:
            invitation.reminders_sent += 1
        invitation.save(reason=f"PROM {kind} sent")
    record(
        f"proms.{kind}.{status}",
        invitation,
        after={"kind": kind, "status": status, "error": error},
        reason=f"PROM {kind}",
    )
    if raise_transient and transient is not None:
        raise TransientMailError(error) from transient
    return message


class LinkNotOpen(RuntimeError):
    def __init__(self, state: str) -> None:
        super().__init__(f"this link is {state}")
        self.state = state


def complete(invitation: PromInvitation, responses: dict[str, dict[str, int]]) -> list[PromAdministration]:
    """Save the patient's answers (one administration per instrument) and close the link. Audited as the
    patient. Raises LinkNotOpen if the link was used, revoked or expired meanwhile, ValueError on bad input."""
    problems = []
    for instrument in invitation.instruments:
        answers = responses.get(instrument, {})
        for p in validate_responses(instrument, answers, complete=False):
            problems.append(f"{instrument}: {p}")
    if problems:
        raise ValueError("; ".join(problems))
    label = f"patient:{invitation.patient.registry_id} via link {invitation.pk}"
    with audit_context(label=label, reason="patient self-completion"), transaction.atomic():
        current = PromInvitation.objects.select_for_update().get(pk=invitation.pk)
        if current.state != "open":
            raise LinkNotOpen(current.state)
        today = timezone.localdate()
        saved = []
        for instrument in current.instruments:
            answers = responses.get(instrument, {})
            complete_status = not validate_responses(instrument, answers, complete=True)
            saved.append(
                record_administration(
                    PromAdministration(
                        patient=current.patient,
                        procedure=current.procedure,
                        timepoint=current.timepoint,
                        instrument=instrument,
                        mode="electronic_self",
                        completed_date=today,
                        completion_status="complete" if complete_status else "partial",
                        responses=answers,
                    ),
                    reason="patient self-completion",
                )
            )
        current.used_at = timezone.now()
        current.save(reason="completed by the patient")
        invitation.refresh_from_db()
    return saved


def send_due_reminders(now: dt.datetime | None = None) -> dict[str, int]:
    """Remind patients who have not completed an emailed link after N days; stop after the maximum
    (recorded once as 'stopped'). Idempotent on the same day: a reminder is due only N days after the
    last contact."""
    now = now or timezone.now()
    after = dt.timedelta(days=reminder_after_days())
    counts = {"sent": 0, "failed": 0, "stopped": 0}
    open_links = PromInvitation.objects.alive().filter(
        channel=PromInvitation.EMAIL,
        used_at__isnull=True,
        revoked_at__isnull=True,
        reminders_stopped=False,
        expires_at__gt=now,
        last_contact_at__isnull=False,
        last_contact_at__lte=now - after,
    )
    for invitation in open_links.select_related("patient"):
        if invitation.reminders_sent >= max_reminders():
            invitation.reminders_stopped = True
            invitation.save(reason=f"no answer after {max_reminders()} reminders: reminders stopped")
            PromMessage.objects.create(
                invitation=invitation,
                kind=PromMessage.REMINDER,
                status=PromMessage.STOPPED,
                at=now,
                error=f"stopped after {max_reminders()} reminders",
            )
            record("proms.reminder.stopped", invitation, reason="maximum reminders reached")
            counts["stopped"] += 1
            continue
        message = send(invitation, PromMessage.REMINDER, now=now)
        counts[message.status] += 1
    return counts
