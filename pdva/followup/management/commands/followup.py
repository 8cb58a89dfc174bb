"""pdva followup run | adopt-schedule VERSION | import-linkage FILE | import-ascertainment FILE

See docs/followup.md for running ``pdva followup run`` daily from cron or a systemd timer.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pdva.audit.context import audit_context


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Follow-up engine: daily run, schedule adoption, linkage and case-ascertainment imports."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser(
            "run", help="Refresh statuses, score new PROMs, send reminders and weekly digests"
        )
        run.add_argument("--today", type=_date, help="Run as of this date (default: today)")
        run.add_argument("--no-digest", action="store_true", help="Do not send the weekly digests")

        adopt = sub.add_parser("adopt-schedule", help="Adopt a follow-up schedule version (re-computes all)")
        adopt.add_argument("version")
        adopt.add_argument("--note", default="")

        link = sub.add_parser("import-linkage", help="Propose deaths / episodes from a national linkage CSV")
        link.add_argument("kind", choices=["deaths", "episodes"])
        link.add_argument("file", type=Path)

        asc = sub.add_parser("import-ascertainment", help="Compare a site's list of pDVA procedures")
        asc.add_argument("file", type=Path)
        asc.add_argument("--site", required=True, help="ODS code of the site")
        asc.add_argument("--from", dest="start", type=_date, required=True)
        asc.add_argument("--to", dest="end", type=_date, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, "handle_" + options["action"].replace("-", "_"))(**options)

    def handle_run(self, today: dt.date | None = None, no_digest: bool = False, **_: Any) -> None:
        from pdva.core.progress import Progress
        from pdva.followup.services.run import run

        with audit_context(label="system:followup", reason="scheduled follow-up run"):
            log = run(today, send_digests=not no_digest, progress_for=Progress)
        self.stdout.write(
            f"followup run {log.run_date} (schedule {log.schedule_version}): {log.created} new, {log.changed} "
            f"changed, {log.removed} removed, {log.unchanged} unchanged; reminders sent {log.reminders_sent}; "
            f"digests sent {log.digests_sent}, failed {log.digests_failed}"
        )
        if log.digests_failed:
            self.stderr.write("some digests failed: see Follow-up > Digests, or the DigestSend records")

    def handle_adopt_schedule(self, version: str, note: str = "", **_: Any) -> None:
        from django.core.exceptions import ValidationError

        from pdva.followup.models import ScheduleAdoption

        with audit_context(label="system:followup", reason=f"adopt follow-up schedule {version}"):
            try:
                ScheduleAdoption(version=version, note=note).save()
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"schedule {version} adopted; run `pdva followup run` to refresh statuses")

    def handle_import_linkage(self, kind: str, file: Path, **_: Any) -> None:
        from pdva.followup.services.linkage import LinkageInvalid, import_linkage

        with audit_context(label="system:linkage", reason=f"national {kind} linkage import"):
            try:
                batch = import_linkage(kind, file.read_text(encoding="utf-8-sig"), filename=file.name)
            except LinkageInvalid as exc:
                for error in exc.errors:
                    self.stderr.write(f"line {error.line}: {error.message}")
                raise CommandError(f"{len(exc.errors)} error(s): nothing imported") from exc
        r = batch.report
        self.stdout.write(
            f"batch {batch.pk}: {len(r['proposed'])} proposed, {len(r['unmatched'])} unmatched, "
            f"{len(r['excluded'])} excluded (opt-out), {len(r['duplicates'])} duplicates, "
            f"{len(r['already_recorded'])} already recorded"
        )

    def handle_import_ascertainment(
        self, file: Path, site: str, start: dt.date, end: dt.date, **_: Any
    ) -> None:
        from pdva.followup.services.ascertainment import AscertainmentInvalid, import_ascertainment
        from pdva.registry.models import Site

        target = Site.objects.filter(ods_code=site.upper()).first()
        if target is None:
            raise CommandError(f"no site with ODS code {site!r}")
        with audit_context(label="system:ascertainment", reason="case ascertainment import"):
            try:
                upload = import_ascertainment(
                    target, file.read_text(encoding="utf-8-sig"), filename=file.name, start=start, end=end
                )
            except AscertainmentInvalid as exc:
                for error in exc.errors:
                    self.stderr.write(f"line {error.line}: {error.message}")
                raise CommandError(f"{len(exc.errors)} error(s): nothing imported") from exc
        self.stdout.write(
            f"{target.ods_code} {start}..{end}: {upload.matched} of {upload.listed} listed procedures are in "
            f"the registry; {upload.listed - upload.matched} missing"
        )
