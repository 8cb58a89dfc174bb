"""pdva snapshots : compute stored report snapshots (what the report pages show).

pdva snapshots --pending          refresh every scope a page asked for (the job-less queue)
pdva snapshots --all              national and every site's dashboard
pdva snapshots --all --stale      only those with no snapshot or one older than the data or the date
pdva snapshots national site:12   these scopes
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pdva.reports.services import snapshots


class Command(BaseCommand):
    help = "Compute report snapshots: the pending requests, every scope, or the scopes named."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scopes", nargs="*", help="'national', 'site:<id>' or 'site:<id>:suppressed'")
        parser.add_argument("--pending", action="store_true", help="refresh the scopes pages asked for")
        parser.add_argument(
            "--all", action="store_true", help="national and every site (as the site sees it)"
        )
        parser.add_argument(
            "--stale",
            action="store_true",
            help="only the named (or --all) scopes with no snapshot, or one older than the data or the date",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        from pdva.registry.models import Site

        keys: list[str] = list(opts["scopes"])
        if opts["all"]:
            keys.append(snapshots.NATIONAL)
            keys += [
                snapshots.site_scope(pk, suppress=False).key
                for pk in Site.objects.values_list("pk", flat=True)
            ]
        for key in keys:
            try:
                snapshots.parse_scope(key)
            except snapshots.UnknownScope as exc:
                raise CommandError(str(exc)) from None
        if not keys and not opts["pending"]:
            raise CommandError("name scopes, or use --pending or --all")
        if opts["stale"]:
            keys = [key for key in keys if _out_of_date(key)]
            self.stdout.write(f"{len(keys)} scope(s) out of date")
        failed = []
        for key in dict.fromkeys(keys):
            try:
                snap = snapshots.refresh_snapshot(key)
            except Exception as exc:
                failed.append(key)
                self.stderr.write(f"{key}: failed: {type(exc).__name__}: {exc}")
            else:
                self.stdout.write(f"{key}: computed in {snap.seconds:.1f} s")
        if opts["pending"]:
            done, pending_failed = snapshots.run_pending()
            for key in done:
                self.stdout.write(f"{key}: computed (requested by a page)")
            failed += pending_failed
        if failed:
            raise CommandError(f"{len(failed)} snapshot(s) failed: {', '.join(failed)}")


def _out_of_date(key: str) -> bool:
    view = snapshots.latest(snapshots.parse_scope(key), queue=False)
    return not view.ready or view.stale
