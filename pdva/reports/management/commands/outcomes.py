"""pdva outcomes --format json|csv : the endpoint table with strata, for scripts.

National scope (no --site) has small counts suppressed because the output leaves any one site.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pdva.audit.context import audit_context
from pdva.audit.models import record
from pdva.outcomes.load import analyse
from pdva.outcomes.suppress import suppress_table
from pdva.registry.models import Site


def _clean(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


class Command(BaseCommand):
    help = "Print the endpoint table (every endpoint, overall and by stratum) as JSON or CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--site", action="append", help="ODS code (repeatable); default: every site")
        parser.add_argument("--cutoff", help="Data cut-off YYYY-MM-DD (default today)")
        parser.add_argument("--strata", help="Comma-separated strata (default: all); 'all' = overall only")
        parser.add_argument("--out", help="Write to this file instead of standard output")

    def handle(self, *args: Any, **opts: Any) -> None:
        cutoff = dt.date.fromisoformat(opts["cutoff"]) if opts.get("cutoff") else dt.date.today()
        site_ids = None
        if opts.get("site"):
            codes = [s.strip().upper() for s in opts["site"]]
            sites = list(Site.objects.filter(ods_code__in=codes))
            missing = set(codes) - {s.ods_code for s in sites}
            if missing:
                raise CommandError(f"unknown site(s): {', '.join(sorted(missing))}")
            site_ids = [s.pk for s in sites]
        strata = opts["strata"].split(",") if opts.get("strata") else None
        try:
            a = analyse(site_ids, cutoff, strata=strata)
        except KeyError as exc:
            raise CommandError(f"unknown stratum {exc}") from None
        national = site_ids is None or len(site_ids) > 1
        table = suppress_table(a.table) if national else a.table.assign(suppressed=False)
        if opts["format"] == "csv":
            text = table.to_csv(index=False)
        else:
            doc = {
                "provenance": a.provenance,
                "scope": "national" if national else "site",
                "small_number_suppression": national,
                "n_procedures": len(a.derived.table) if not national or len(a.derived.table) >= 5 else None,
                "rows": [{k: _clean(v) for k, v in row.items()} for row in table.to_dict("records")],
                "data_issues": len(a.derived.issues),
            }
            text = json.dumps(doc, indent=1, default=str)
        with audit_context(label="system:outcomes", reason="pdva outcomes"):
            record(
                "reports.outcomes.exported",
                None,
                object_type="reports.outcomes",
                object_id=opts["format"],
                after={
                    "scope": "national" if national else "site",
                    "cutoff": cutoff.isoformat(),
                    "rows": len(table),
                },
            )
        if opts.get("out"):
            with open(opts["out"], "w") as fh:
                fh.write(text)
        else:
            self.stdout.write(text)
