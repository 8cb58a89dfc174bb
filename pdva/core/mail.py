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
