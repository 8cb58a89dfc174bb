"""``flush`` would erase the append-only audit trail, so it is refused outside the test environment.

Tests that run in transactions need it between cases; there the append-only triggers are suspended
for the duration of the flush only.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.flush import Command as DjangoFlush

from pdva.audit.triggers import append_only_suspended


class Command(DjangoFlush):
    help = "Empty the database (test environment only: it would erase the audit trail)."

    def handle(self, **options):  # type: ignore[no-untyped-def]
        if settings.ENV.name != "test":
            raise CommandError("flush is refused: it would erase the tamper-evident audit trail")
        with append_only_suspended():
            return super().handle(**options)
