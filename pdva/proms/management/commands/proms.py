"""pdva proms load-labels FILE --instrument X --licence REF [--site ODS] | rescore | remind"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pdva.audit.context import audit_context


class Command(BaseCommand):
    help = "PROMs: load a site's licensed item labels, re-score every administration, send due reminders."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        labels = sub.add_parser(
            "load-labels", help="Load licensed item wording (JSON: code -> {text, levels})"
        )
        labels.add_argument("file", type=Path)
        labels.add_argument("--instrument", required=True, choices=["eq5d5l", "vascuqol6", "pain_nrs"])
        labels.add_argument("--licence", required=True, help="Licence or permission reference")
        labels.add_argument("--language", default="en-GB")
        labels.add_argument("--site", help="ODS code: labels for this site only (default: every site)")
        rescore = sub.add_parser("rescore", help="Re-derive every PROM score (e.g. after a value-set change)")
        rescore.add_argument(
            "--batch-size", type=int, default=None, help="Administrations per transaction (default 2000)"
        )
        sub.add_parser(
            "remind", help="Send due reminders for emailed links (also done by `pdva followup run`)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, "handle_" + options["action"].replace("-", "_"))(**options)

    def handle_load_labels(
        self, file: Path, instrument: str, licence: str, language: str, site: str | None, **_: Any
    ) -> None:
        from pdva.proms.models import InstrumentLabelSet
        from pdva.registry.models import Site

        try:
            labels = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        target = None
        if site:
            target = Site.objects.filter(ods_code=site.upper()).first()
            if target is None:
                raise CommandError(f"no site with ODS code {site!r}")
        label_set = InstrumentLabelSet(
            site=target, instrument=instrument, language=language, licence_reference=licence, labels=labels
        )
        with audit_context(label="system:proms", reason="licensed labels loaded"):
            try:
                label_set.save()
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"loaded {instrument} labels ({language}) for {target or 'every site'}")

    def handle_rescore(self, batch_size: int | None = None, **_: Any) -> None:
        from pdva.core.progress import Progress
        from pdva.proms.services.batch_scoring import BATCH_SIZE, rescore_all

        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        with audit_context(label="system:proms", reason="PROM scores re-derived"):
            result = rescore_all(
                reason="PROM scores re-derived",
                batch_size=batch_size or BATCH_SIZE,
                progress=Progress("re-scoring PROM administrations"),
            )
        self.stdout.write(
            f"re-scored {result.administrations} administrations: {result.edited} changed, "
            f"{result.scores_created} new scores, {result.scores_changed} changed scores"
        )

    def handle_remind(self, **_: Any) -> None:
        from pdva.proms.services.links import send_due_reminders

        with audit_context(label="system:proms", reason="PROM reminders"):
            counts = send_due_reminders()
        self.stdout.write(
            f"reminders: {counts['sent']} sent, {counts['failed']} failed, {counts['stopped']} stopped"
        )
