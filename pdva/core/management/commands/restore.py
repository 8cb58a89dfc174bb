from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pdva.core.backup import RestoreRefused, restore
from pdva.core.progress import Progress, duration


class Command(BaseCommand):
    help = (
        "Restore a backup, all or nothing: migrates a new database to the backup's schema, refuses one "
        "that holds data (unless --force), loads every row as it was and verifies the audit chain before "
        "committing. See docs/backup.md."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--force", action="store_true", help="replace the data of a database that already holds some"
        )
        parser.add_argument("--quiet", action="store_true", help="no progress line")
        parser.add_argument(
            "--actor", default="", help="who runs the restore, for the audit trail (default: the OS user)"
        )
        parser.add_argument(
            "--acknowledge-rollback",
            default="",
            metavar="REASON",
            help="the restored chain is older than checkpoints already written: record that this rollback "
            "is intended (and why), so pdva audit verify reports it instead of failing",
        )

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        progress = None if opts["quiet"] else Progress("restore", self.stderr._out, unit="rows")
        try:
            result = restore(
                opts["path"],
                force=opts["force"],
                progress=progress,
                actor=opts["actor"],
                acknowledge_rollback=opts["acknowledge_rollback"],
            )
        except RestoreRefused as exc:
            raise CommandError(f"nothing restored: {exc}") from exc
        upgraded = "; then migrated to this version's schema" if result.migrated_after else ""
        self.stdout.write(
            f"restored {opts['path']}: {result.rows} rows in {duration(time.monotonic() - started)}; "
            f"audit chain OK ({result.audit_entries} entries){upgraded}"
        )
        self.stdout.write(f"restore recorded in the audit trail at entry {result.restore_seq}")
        if result.rolled_back:
            state = (
                "acknowledged"
                if result.acknowledged
                else "NOT acknowledged: pdva audit verify fails until a restore with --acknowledge-rollback"
            )
            self.stderr.write(
                f"rollback: the restored chain is older than {len(result.rolled_back)} checkpoint(s) "
                f"({', '.join(result.rolled_back[:3])}{', ...' if len(result.rolled_back) > 3 else ''}); {state}"
            )
