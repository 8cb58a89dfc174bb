from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from pdva.core.backup import backup


class Command(BaseCommand):
    help = "Write a consistent online backup of the registry (works on SQLite and PostgreSQL)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", type=Path)

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        path, count, digest = backup(opts["path"])
        self.stdout.write(f"backup written: {path} ({count} objects, sha256 {digest})")
