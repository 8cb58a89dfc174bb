"""PROM emails: the link to a patient's questionnaire, sent by a job instead of inside the staff page."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from pdva.accounts.access import scoped
from pdva.accounts.roles import Cap
from pdva.jobs.registry import JobError, JobKind, JobRefused, Transient, register
from pdva.jobs.runner import JobContext

MESSAGE_KINDS = ("invitation", "reminder")


def _invitation(user: Any, params: dict[str, Any]) -> Any:
    from pdva.proms.models import PromInvitation

    invitation = (
        scoped(PromInvitation.objects, user, Cap.EDIT_CLINICAL)
        .select_related("patient")
        .filter(pk=params.get("invitation_id"))
        .first()
    )
    if invitation is None or invitation.channel != PromInvitation.EMAIL:
        raise JobRefused("This questionnaire link is not available to you.")
    return invitation


def _authorize(user: Any, params: dict[str, Any]) -> int:
    if params.get("message") not in MESSAGE_KINDS:
        raise JobError("Unknown kind of PROM message.")
    return int(_invitation(user, params).patient.site_id)


def _send(ctx: JobContext) -> None:
    from pdva.core.mail import TransientMailError
    from pdva.proms.services import links

    invitation = _invitation(ctx.user, ctx.params)
    if invitation.state != "open":
        raise JobError(f"The link is {invitation.state}: nothing was sent.")
    try:
        # Every attempt is a PromMessage row and an audit entry, shown on the link's page.
        message = links.send(invitation, ctx.params["message"], raise_transient=True)
    except TransientMailError as exc:
        raise Transient("the mail server could not take the message for now") from exc
    ctx.summary.update(invitation_id=invitation.pk, status=message.status)
    if message.status != "sent":
        # The recorded error may name the address: the job says only what kind of failure it was.
        reason = message.error.split(":", 1)[0] or "unknown error"
        raise JobError(f"The email was not sent ({reason}); the link's page lists every attempt.")


def _link(job: Any) -> tuple[str, str] | None:
    invitation_id = job.params.get("invitation_id")
    return (
        ("Open the questionnaire link", reverse("proms:link_detail", args=[invitation_id]))
        if invitation_id
        else None
    )


register(
    JobKind(
        "proms.send_link",
        "Email a questionnaire link to a patient",
        _send,
        authorize=_authorize,
        result_link=_link,
    )
)
