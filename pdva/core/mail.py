"""Mail helpers. A registry that cannot send must say so, never drop a message silently."""

from __future__ import annotations

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend


class EmailNotConfigured(RuntimeError):
    pass


class NotConfiguredBackend(BaseEmailBackend):
    """Used when no mail server is configured: every send raises, so callers record a failure."""

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        raise EmailNotConfigured("No mail server configured: set PDVA_EMAIL_HOST (or PDVA_EMAIL_BACKEND)")


def email_configured() -> bool:
    return settings.EMAIL_BACKEND != "pdva.core.mail.NotConfiguredBackend"


class TransientMailError(RuntimeError):
    """Sending failed for a reason that may pass (server unreachable, a 4xx reply). The failed attempt has
    been recorded; raised only when the caller asked for it, so a background job can try again later."""


def is_transient(exc: BaseException) -> bool:
    """Would the same message probably go through later? (Connection problems and 4xx SMTP replies.)"""
    import smtplib
    import socket

    if isinstance(exc, EmailNotConfigured | TransientMailError):
        return isinstance(exc, TransientMailError)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, ConnectionError | TimeoutError | socket.gaierror)
