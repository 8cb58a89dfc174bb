from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pdva.core.backup import BackupRefused, backup
from pdva.core.progress import Progress, duration


class Command(BaseCommand):
    help = (
        "Write a consistent online backup of the registry (streamed, gzip-compressed JSON lines; works on "
        "SQLite and PostgreSQL, restores into either). See docs/backup.md."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", type=Path, help="file to write (.jsonl.gz is added if missing)")
        parser.add_argument("--quiet", action="store_true", help="no progress line")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        progress = None if opts["quiet"] else Progress("backup", self.stderr._out, unit="rows")
        try:
            path, count, digest = backup(opts["path"], progress=progress)
        except BackupRefused as exc:
            raise CommandError(f"no backup written: {exc}") from exc
        self.stdout.write(
            f"backup written: {path} ({count} rows, {path.stat().st_size / 1e6:.1f} MB, "
            f"{duration(time.monotonic() - started)}, sha256 {digest})"
        )
