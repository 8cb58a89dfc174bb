from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pdva.audit.chain import ChainBreak
from pdva.audit.verify import verify_chain
from pdva.core.backup import RestoreRefused, restore


class Command(BaseCommand):
    help = (
        "Restore a backup into an empty database (or replace one with --force), then verify the audit chain."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", type=Path)
        parser.add_argument("--force", action="store_true", help="replace a database that already holds data")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        try:
            restore(opts["path"], force=opts["force"])
        except RestoreRefused as exc:
            raise CommandError(str(exc)) from exc
        try:
            count = verify_chain()
        except ChainBreak as exc:
            raise CommandError(
                f"restored, but the audit chain is BROKEN at entry {exc.seq}: {exc.problem}"
            ) from exc
        self.stdout.write(f"restored {opts['path']}; audit chain OK ({count} entries)")
