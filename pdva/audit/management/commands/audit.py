from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pdva.audit.chain import ChainBreak
from pdva.audit.verify import verify_chain


class Command(BaseCommand):
    help = "Audit trail tools. 'pdva audit verify' walks the hash chain and names the first bad entry."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        try:
            count = verify_chain()
        except ChainBreak as exc:
            raise CommandError(f"audit chain BROKEN at entry {exc.seq}: {exc.problem}") from exc
        self.stdout.write(f"audit chain OK: {count} entries verified")
