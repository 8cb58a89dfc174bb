"""pdva activation USERNAME [--email]: issue the one-time code a user needs to set up two-factor sign-in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pdva.accounts.services import activation
from pdva.audit.context import audit_context


class Command(BaseCommand):
    help = "Issue a one-time two-factor activation code for a user (printed, or emailed with --email)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--email", action="store_true", help="send the link to the user's address instead"
        )
        parser.add_argument("--hours", type=int, default=None, help="expiry (default PDVA_ACTIVATION_HOURS)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        hours = options["hours"]
        if hours is not None and hours < 1:
            raise CommandError("--hours must be at least 1")
        with audit_context(
            label="system:pdva activation", reason="activation code issued from the command line"
        ):
            code, raw = activation.issue(user, hours=hours)
        if options["email"]:
            try:
                activation.email_code(user, raw)
            except Exception as exc:
                raise CommandError(f"the code was issued but not sent: {exc}") from exc
            self.stdout.write(f"activation link sent to {user.username}'s email address\n")
            return
        hours_text = hours or settings.PDVA_ACTIVATION_HOURS
        self.stdout.write(
            f"activation code for {user.username} (single use, expires in {hours_text} h, "
            f"{code.expires_at:%Y-%m-%d %H:%M} UTC):\n  {raw}\n  {activation.activation_url(raw)}\n"
        )
