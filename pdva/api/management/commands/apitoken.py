"""`pdva apitoken create|list|revoke`: manage personal API tokens from the command line."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pdva.accounts.access import roles_of
from pdva.api.models import DEFAULT_LIFETIME_DAYS, ApiToken
from pdva.audit.context import audit_context


class Command(BaseCommand):
    help = "Create, list or revoke a user's personal API tokens (the new token is printed once)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("action", choices=["create", "list", "revoke"])
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument("--days", type=int, default=DEFAULT_LIFETIME_DAYS)
        parser.add_argument("--prefix", help="token prefix to revoke (the 8 characters after pdva_)")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        user = get_user_model().objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {opts['user']!r}")
        with audit_context(label="system:apitoken", reason=f"API token {opts['action']} for {user.username}"):
            if opts["action"] == "create":
                if not roles_of(user):
                    raise CommandError(f"{user.username} has no role at any site: a token would be useless")
                try:
                    _token, raw = ApiToken.issue(
                        user, opts["name"] or "command-line token", days=opts["days"]
                    )
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
                self.stdout.write(raw)
            elif opts["action"] == "list":
                for t in ApiToken.objects.filter(user=user):
                    state = "revoked" if t.revoked_at else "expired" if t.is_expired else "active"
                    self.stdout.write(f"{t.prefix}\t{state}\t{t.expires_at:%Y-%m-%d}\t{t.name}")
            else:
                token = ApiToken.objects.filter(user=user, prefix=opts["prefix"] or "").first()
                if token is None:
                    raise CommandError("no such token for this user (give --prefix)")
                token.revoke(reason="revoked from the command line")
                self.stdout.write(f"revoked {token.prefix}")
