"""Benchmark the follow-up engine against the raw reads it needs (the floor), on a dedicated SQLite file.

    python bench/bench_followup.py           # 1,500 patients
    python bench/bench_followup.py --quick   # 150 patients

Reported: followup_items() for every site (wall time, items, queries) and the ratio to reading the same
procedure, visit and amputation rows with values() (the floor); `pdva followup run` status refresh, first run
(inserts) and an idempotent re-run, as ratios to the floor. Target: followup_items within 5x of the floor, and
a constant number of queries whatever the cohort size.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import Report, Workspace, cli  # noqa: E402


def _setup(db_url: str) -> None:
    os.environ["PDVA_DATABASE_URL"] = db_url
    os.environ.setdefault("PDVA_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pdva.settings")
    import django

    django.setup()


def _timed(fn, repeat: int = 3):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(quick: bool, report: Report) -> None:
    patients = 150 if quick else 1500
    with Workspace("followup") as ws:
        _setup(ws.sqlite().url)
        import datetime as dt

        from django.core.management import call_command
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from pdva.audit.context import audit_context
        from pdva.followup.services import followup_items
        from pdva.followup.services.run import refresh_statuses
        from pdva.registry.models import Amputation, FollowUpVisit, Procedure
        from pdva.registry.synthetic import seed_cohort

        call_command("migrate", verbosity=0)
        cutoff = dt.date(2026, 6, 1)
        started = time.perf_counter()
        seed_cohort(sites=3, patients=patients, years=6, seed=5, cutoff=cutoff)
        print(f"seeded {patients} patients in {time.perf_counter() - started:.1f} s")

        def floor() -> int:
            rows = list(Procedure.objects.values("pk", "patient_id", "procedure_date", "index_limb"))
            rows += list(
                FollowUpVisit.objects.values_list("procedure_id", "timepoint", "timepoint_year", "visit_date")
            )
            rows += list(Amputation.objects.filter(is_major=True).values_list("patient_id", "limb", "date"))
            return len(rows)

        base, nrows = _timed(floor)
        engine, items = _timed(lambda: followup_items(None, cutoff))
        with CaptureQueriesContext(connection) as queries:
            followup_items(None, cutoff)
        print(f"floor (raw reads): {base * 1000:.1f} ms for {nrows} rows")
        print(
            f"followup_items: {engine * 1000:.1f} ms for {len(items)} items, {len(queries)} queries; "
            f"ratio to floor {engine / base:.1f}x (target <= 5x)"
        )
        report.target(f"followup_items at {patients} patients / floor", engine / base, 5, "x")
        with audit_context(label="system:bench"):
            first, r1 = _timed(lambda: refresh_statuses(cutoff), repeat=1)
            again, r2 = _timed(lambda: refresh_statuses(cutoff), repeat=1)
        print(
            f"status refresh, first run: {first * 1000:.1f} ms ({r1.created} rows); ratio {first / base:.1f}x"
        )
        print(
            f"status refresh, re-run: {again * 1000:.1f} ms ({r2.changed} changed, {r2.unchanged} unchanged); "
            f"ratio {again / base:.1f}x"
        )


if __name__ == "__main__":
    cli(main, "followup", __doc__)
