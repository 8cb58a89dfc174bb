"""`pdva import [--dry-run] PATH --user USERNAME`: all-or-nothing import of a full export, dictionary CSVs or
a REDCap export (`--site ODS`, or `--site PSEUDONYM=ODS` per site; `--operator CODE`; `--day-zero DATE`).

Shows progress (records per second, time left) on stderr; a file already imported is refused, naming when
and by whom it was loaded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pdva.core.progress import Progress
from pdva.exports.importer import ImportRefused, import_path
from pdva.exports.redcap_import import RedcapOptions, is_redcap


class Command(BaseCommand):
    help = (
        "Import historical cases from a full export (zip), a directory of CSVs in the registry's dictionary "
        "format, one <table>.csv, or a REDCap export (redcap_data.csv with its data dictionary). "
        "All or nothing; --dry-run validates and changes nothing; the same file is never imported twice."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("path", type=Path)
        parser.add_argument("--user", required=True, help="username the import is made as (and audited to)")
        parser.add_argument("--dry-run", action="store_true", help="validate and report; change nothing")
        parser.add_argument("--report", type=Path, help="write the validation report (CSV) here")
        parser.add_argument(
            "--site",
            action="append",
            default=[],
            metavar="[PSEUDONYM=]ODS",
            help="REDCap only: the site the records belong to (repeat PSEUDONYM=ODS for several sites)",
        )
        parser.add_argument("--operator", default="", help="REDCap only: operator code for the procedures")
        parser.add_argument(
            "--day-zero",
            type=dt.date.fromisoformat,
            help="REDCap only: calendar date of day 0 (default: the latest day in the file is today)",
        )

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        path: Path = opts["path"]
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        user = get_user_model().objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {opts['user']!r}")
        redcap = None
        if is_redcap(path):
            if not opts["site"]:
                raise CommandError("a REDCap export: name the site its records belong to (--site ODS)")
            sites = {}
            for item in opts["site"]:
                pseudonym, _, code = item.rpartition("=")
                sites[pseudonym or "*"] = code.strip().upper()
            redcap = RedcapOptions(sites=sites, operator=opts["operator"], day_zero=opts["day_zero"])
        elif opts["site"] or opts["operator"] or opts["day_zero"]:
            raise CommandError("--site, --operator and --day-zero apply to REDCap imports only")
        try:
            report = import_path(
                path,
                user=user,
                dry_run=opts["dry_run"],
                redcap=redcap,
                progress=Progress("checking records" if opts["dry_run"] else "importing records"),
            )
        except (ImportRefused, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if opts["report"]:
            opts["report"].write_text(report.as_csv(), encoding="utf-8")
        for problem in report.problems[:50]:
            self.stderr.write(f"{problem.file}:{problem.row}: {problem.field}: {problem.problem}")
        if report.problem_count > 50:
            self.stderr.write(f"... and {report.problem_count - 50} more (use --report)")
        self.stdout.write(report.summary())
        if report.problems:
            raise CommandError("import refused: fix the problems above (nothing was changed)")
