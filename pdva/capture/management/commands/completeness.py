"""pdva completeness : recompute the stored mandatory-item completeness the site worklist lists.

Saves keep it current; records loaded in bulk (seed, import, restore) are checked here or by the
background job the worklist queues.

    pdva completeness               every case
    pdva completeness --unchecked   only cases with nothing stored yet
    pdva completeness --site AAA    one site (repeatable)
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Recompute the stored completeness of cases (what the worklist's missing-data list reads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", action="append", help="ODS code (repeatable); default every site")
        parser.add_argument("--unchecked", action="store_true", help="only cases with nothing stored")

    def handle(self, *args: Any, **opts: Any) -> None:
        from pdva.capture.services.worklists import refresh_completeness
        from pdva.registry.models import Site

        site_ids = None
        if opts.get("site"):
            codes = {code.strip().upper() for code in opts["site"]}
            sites = dict(Site.objects.filter(ods_code__in=codes).values_list("ods_code", "pk"))
            if codes - set(sites):
                raise CommandError(f"unknown site(s): {', '.join(sorted(codes - set(sites)))}")
            site_ids = list(sites.values())
        started = time.perf_counter()

        def progress(done: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-6)
            self.stdout.write(f"\r{done} cases checked ({rate:.0f}/s)", ending="")
            self.stdout.flush()

        done = refresh_completeness(site_ids=site_ids, only_unchecked=opts["unchecked"], progress=progress)
        self.stdout.write(f"\n{done} cases checked in {time.perf_counter() - started:.1f} s")
