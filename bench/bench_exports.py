"""Benchmark the de-identified research export on PostgreSQL against PostgreSQL's own COPY (the floor).

    python bench/bench_exports.py           # 50,000 patients
    python bench/bench_exports.py --quick   # 2,000 patients

A database of its own (pdva_bench_exports_<pid>, dropped at the end) is created and filled quickly: a synthetic cohort of TEMPLATE
patients is seeded through the audited models, then replicated with INSERT ... SELECT (new ids and UUIDs,
references shifted) to the target size; the replicas bypass the audit trail (benchmark only).

Loading and measuring run in separate processes, so the peak memory reported is the export's own process.
Reported: wall time, rows, rows per second, peak resident memory, and the ratio to
`COPY (SELECT * FROM table) TO STDOUT` of the same ten tables read by psycopg (the floor). The floor and the
exports are interleaved for three rounds and the best of each is compared (the machine is shared). On
PostgreSQL the export uses its fast path (pdva.exports.research_sql); the Python path (SQLite's) is timed
once on the same data for comparison. Targets: within 3x of the floor, peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import Report, Workspace, cli, run_command  # noqa: E402

TEMPLATE = 500
ROUNDS = 3


def _setup_django() -> None:
    # the workers run on the database main() made; its environment names it
    os.environ.setdefault("PDVA_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pdva.settings")
    import django

    django.setup()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(patients: int) -> dict:
    """Migrate the (empty) database, seed a template cohort and replicate it to ``patients``."""
    _setup_django()
    import datetime as dt

    from django.core.management import call_command
    from django.db import connection, transaction

    from pdva.exports.tables import TABLES
    from pdva.registry.synthetic import seed_cohort

    call_command("migrate", verbosity=0)
    template = min(TEMPLATE, patients)
    started = time.perf_counter()
    seed_cohort(sites=3, patients=template, years=5, seed=11, cutoff=dt.date(2025, 6, 1))
    seeded = time.perf_counter() - started
    copies = patients // template
    replicated = [t for t in TABLES if t.patient_path is not None]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        offsets = {}
        for spec in replicated:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {spec.model._meta.db_table}")
            offsets[spec.model] = cursor.fetchone()[0]
        for spec in replicated:
            table = spec.model._meta.db_table
            columns, select = [], []
            for f in spec.model._meta.concrete_fields:
                columns.append(f.column)
                if f.primary_key:
                    select.append(f"{f.column} + %(k)s * {offsets[spec.model]}")
                elif f.is_relation and f.related_model in offsets:
                    select.append(f"{f.column} + %(k)s * {offsets[f.related_model]}")
                elif f.name == "uuid":
                    select.append("gen_random_uuid()")
                elif f.name == "registry_id":
                    select.append("registry_id || '-' || %(k)s")
                else:
                    select.append(f.column)
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(select)} "
                f"FROM {table} WHERE id <= {offsets[spec.model]}"
            )
            for k in range(1, copies):
                cursor.execute(sql, {"k": k})
        cursor.execute("ANALYZE")
    return {"patients": template * copies, "seed_s": seeded, "replicate_s": time.perf_counter() - started}


def measure(rounds: int = ROUNDS) -> dict:
    """Time COPY of the ten research tables (the floor) and the research export (CSV and Parquet), in this
    process, interleaved for ``rounds`` rounds (best of each, as the machine is shared); then the Python
    path once (the engine used on SQLite, and before the PostgreSQL fast path) for comparison."""
    _setup_django()
    from django.db import connection

    from pdva.audit.context import audit_context
    from pdva.exports.services import run_export
    from pdva.exports.tables import RESEARCH_TABLES
    from tests.factories import UserFactory, grant

    def floor() -> tuple[float, int]:
        with connection.cursor() as cursor:
            raw = cursor.connection
            started = time.perf_counter()
            copied = 0
            for spec in RESEARCH_TABLES:
                with raw.cursor().copy(f"COPY (SELECT * FROM {spec.model._meta.db_table}) TO STDOUT") as copy:
                    for block in copy:
                        copied += len(block)
            return time.perf_counter() - started, copied

    def export(fmt: str, engine: str) -> tuple[float, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            with audit_context(user):
                result = run_export(
                    "research", user, Path(tmp) / f"research-{fmt}.zip", fmt=fmt, engine=engine
                )
            wall = time.perf_counter() - started
            result.size = result.path.stat().st_size
        return wall, result

    before = rss_mb()
    user = UserFactory(username=f"bench-auditor-{os.getpid()}")
    grant(user, "national_auditor")
    floors: list[float] = []
    walls: dict[str, list[float]] = {"csv": [], "parquet": []}
    results: dict[str, Any] = {}
    copied = 0
    for _round in range(rounds):
        seconds, copied = floor()
        floors.append(seconds)
        for fmt in walls:
            wall, results[fmt] = export(fmt, "auto")
            walls[fmt].append(wall)
    best_floor = min(floors)
    out: dict[str, Any] = {"copy_s": best_floor, "copy_all_s": floors, "copy_mb": copied / 1e6}
    out["rss_before_mb"] = before
    for fmt, times in walls.items():
        result = results[fmt]
        out[fmt] = {
            "engine": result.manifest["engine"],
            "wall_s": min(times),
            "all_s": times,
            "rows": result.rows,
            "rows_per_s": result.rows / min(times),
            "ratio_to_copy": min(times) / best_floor,
            "file_mb": result.size / 1e6,
        }
    out["fast_path_peak_rss_mb"] = rss_mb()
    wall, result = export("csv", "python")
    out["python_csv"] = {"wall_s": wall, "rows": result.rows, "ratio_to_copy": wall / best_floor}
    out["peak_rss_mb"] = rss_mb()
    return out


def main(quick: bool, report: Report) -> None:
    with Workspace("exports") as ws:
        _main(quick, report, ws.env(ws.pg()))


def _worker(script: str, env: dict[str, str], *args: str) -> dict:
    """Run a worker of this script on the bench database; its last output line is its JSON answer."""
    run = run_command([sys.executable, script, "--worker", *args], env=env, cwd=ROOT).check()
    return json.loads(run.stdout.strip().splitlines()[-1])


def _main(quick: bool, report: Report, env: dict[str, str]) -> None:
    patients = 2_000 if quick else 50_000
    script = str(Path(__file__).resolve())
    loaded = _worker(script, env, "load", "--patients", str(patients))
    print(
        f"loaded {loaded['patients']:,} patients (seed {loaded['seed_s']:.1f}s, replicate {loaded['replicate_s']:.1f}s)",
        flush=True,
    )
    r = _worker(script, env, "measure")
    print(
        f"floor: COPY of the 10 research tables: {r['copy_s']:.2f}s best of "
        f"{', '.join(f'{x:.2f}' for x in r['copy_all_s'])} ({r['copy_mb']:.0f} MB of text)"
    )
    print(f"process RSS before exporting: {r['rss_before_mb']:.0f} MB")
    peak = r["fast_path_peak_rss_mb"]
    for fmt in ("csv", "parquet"):
        x = r[fmt]
        print(
            f"research export ({fmt}, {x['engine']}): {x['wall_s']:.2f}s best of "
            f"{', '.join(f'{t:.2f}' for t in x['all_s'])}, {x['rows']:,} rows, {x['rows_per_s']:,.0f} rows/s, "
            f"{x['ratio_to_copy']:.2f}x the COPY floor (target <= 3x), file {x['file_mb']:.1f} MB"
        )
        report.target(f"research export ({fmt}) / COPY floor", x["ratio_to_copy"], 3, "x")
    print(f"peak RSS of the exporting process (fast path): {peak:.0f} MB (target < 300 MB)")
    report.target("research export peak RSS (fast path)", peak, 300, "MB", "<")
    py = r["python_csv"]
    print(
        f"for comparison, the Python path (SQLite's engine) on the same data (csv): {py['wall_s']:.2f}s, "
        f"{py['ratio_to_copy']:.2f}x the floor, {py['wall_s'] / r['csv']['wall_s']:.1f}x the fast path; "
        f"peak RSS with it {r['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=["load", "measure"])
    parser.add_argument("--patients", type=int, default=50_000)
    args = parser.parse_args()
    if args.worker == "load":
        print(json.dumps(load(args.patients)))
    elif args.worker == "measure":
        print(json.dumps(measure()))
    else:
        cli(main, "exports", __doc__)
