"""`pdva export research|redcap|odm|fhir|full --out PATH --user USERNAME`: run an export as a named user."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from pdva.audit.context import audit_context
from pdva.exports.services import KINDS, ExportRefused, run_export


class Command(BaseCommand):
    help = (
        "Export registry data as a named user, within that user's role and sites (every export is audited)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--out", required=True, type=Path, help="file to write")
        parser.add_argument("--user", required=True, help="username whose role and sites apply")
        parser.add_argument(
            "--format", dest="fmt", choices=["csv", "parquet"], default=None, help="research only"
        )
        parser.add_argument(
            "--allow-free-text",
            action="append",
            default=[],
            metavar="TABLE.FIELD",
            help="research only: include this free-text field (repeatable)",
        )
        parser.add_argument(
            "--audit",
            action="store_true",
            help="odm only: add ODM AuditRecords (who, where, when, why) to every item, users as pseudonyms",
        )

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        user = get_user_model().objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {opts['user']!r}")
        options = {}
        if opts["kind"] == "research":
            options = {"fmt": opts["fmt"] or "csv", "allow_free_text": frozenset(opts["allow_free_text"])}
        elif opts["fmt"] or opts["allow_free_text"]:
            raise CommandError("--format and --allow-free-text apply to research exports only")
        if opts["audit"]:
            if opts["kind"] != "odm":
                raise CommandError("--audit applies to odm exports only")
            options["audit"] = True
        try:
            with audit_context(user, reason=f"{opts['kind']} export from the command line"):
                result = run_export(opts["kind"], user, opts["out"], **options)
        except ExportRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Wrote {result.path} ({result.rows} rows, sha256 {result.sha256}).")
