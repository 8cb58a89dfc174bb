"""pdva report governance|appraisal|national|workbook|decision-aid ... : write a report file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pdva.audit.context import audit_context
from pdva.audit.models import record
from pdva.registry.models import Operator, Site
from pdva.reports.services import common


def _site(ods: str | None) -> Site:
    if not ods:
        raise CommandError("--site ODS is required")
    try:
        return Site.objects.get(ods_code=ods.strip().upper())
    except Site.DoesNotExist:
        raise CommandError(f"no site with ODS code {ods!r}") from None


class Command(BaseCommand):
    help = "Generate a report: governance, appraisal, national, workbook or decision-aid."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "kind", choices=["governance", "appraisal", "national", "workbook", "decision-aid"]
        )
        parser.add_argument("--site", help="Site ODS code (governance, workbook, decision-aid)")
        parser.add_argument(
            "--operator", help="Operator id or code (appraisal; code needs --site if ambiguous)"
        )
        parser.add_argument(
            "--period", help="Quarter, e.g. 2026Q3 (governance; default: last complete quarter)"
        )
        parser.add_argument(
            "--cutoff", help="Data cut-off date YYYY-MM-DD (default: today or the period end)"
        )
        parser.add_argument("--out", help="Output file")
        parser.add_argument(
            "--email",
            action="store_true",
            help="governance: email the PDF to the site's governance lead (every site if no --site)",
        )
        parser.add_argument(
            "--dialysis", action="store_true", help="decision-aid: stratify by dialysis dependence"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        cutoff = dt.date.fromisoformat(opts["cutoff"]) if opts.get("cutoff") else None
        kind = opts["kind"]
        with audit_context(label="system:report", reason=f"pdva report {kind}"):
            if kind == "governance" and opts["email"]:
                return self._email(opts, cutoff)
            if not opts.get("out"):
                raise CommandError("--out FILE is required")
            out = Path(opts["out"])
            data = self._build(kind, opts, cutoff)
            out.write_bytes(data)
            record(
                f"reports.{kind.replace('-', '_')}.generated",
                None,
                object_type="reports.file",
                object_id=out.name,
                after={
                    "file": str(out),
                    "bytes": len(data),
                    "site": opts.get("site") or "",
                    "operator": opts.get("operator") or "",
                },
            )
        self.stdout.write(f"wrote {out} ({len(data)} bytes)")

    def _build(self, kind: str, opts: dict, cutoff: dt.date | None) -> bytes:
        from pdva.reports.services.pdf import render_pdf

        if kind == "governance":
            from pdva.reports.services.site import site_report

            try:
                context = site_report(_site(opts["site"]), period=opts.get("period"), cutoff=cutoff)
            except common.PeriodError as exc:
                raise CommandError(str(exc)) from None
            return render_pdf("reports/pdf/governance.html", context)
        if kind == "appraisal":
            from pdva.reports.services.appraisal import appraisal_report

            return render_pdf(
                "reports/pdf/appraisal.html", appraisal_report(self._operator(opts), cutoff=cutoff)
            )
        if kind == "national":
            from pdva.reports.services.national import national_report

            return render_pdf("reports/pdf/national.html", national_report(cutoff=cutoff))
        if kind == "workbook":
            from pdva.reports.services.workbook import build_workbook

            return build_workbook(_site(opts["site"]), cutoff=cutoff)
        from pdva.reports.services.decision_aid import decision_aid

        context = decision_aid(_site(opts["site"]), cutoff=cutoff, by_dialysis=opts["dialysis"])
        return render_pdf("reports/pdf/decision_aid.html", context)

    def _operator(self, opts: dict) -> Operator:
        ref = opts.get("operator")
        if not ref:
            raise CommandError("--operator ID is required")
        qs = Operator.objects.alive()
        if ref.isdigit() and qs.filter(pk=int(ref)).exists():
            return qs.get(pk=int(ref))
        if opts.get("site"):
            qs = qs.filter(site=_site(opts["site"]))
        matches = list(qs.filter(code=ref))
        if len(matches) != 1:
            raise CommandError(
                f"operator {ref!r}: {'not found' if not matches else 'ambiguous, give --site'}"
            )
        return matches[0]

    def _email(self, opts: dict, cutoff: dt.date | None) -> None:
        from pdva.reports.services.send import send_governance_report

        sites = [_site(opts["site"])] if opts.get("site") else list(Site.objects.alive().filter(active=True))
        failures = 0
        for site in sites:
            try:
                send = send_governance_report(site, opts.get("period"), cutoff=cutoff)
            except common.PeriodError as exc:
                raise CommandError(str(exc)) from None
            if send.status == "sent":
                self.stdout.write(f"{site.ods_code}: sent to {send.recipient}")
            else:
                failures += 1
                self.stderr.write(f"{site.ods_code}: FAILED: {send.error}")
        if failures:
            raise CommandError(f"{failures} of {len(sites)} report(s) could not be sent (recorded)")
