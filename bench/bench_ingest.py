"""Bulk loading at national scale (issue 11): the registry's own commands against PostgreSQL's own tools.

    python bench/bench_ingest.py           # 30 sites, 50,000 patients, 8 years (takes long: run it rarely)
    python bench/bench_ingest.py --quick   # 3 sites, 500 patients, 8 years
    BENCH_INGEST_KEEP=pdva_seed50k python bench/bench_ingest.py   # also keep the seeded registry (and its keys
                                                                  # in /tmp/pdva_seed50k-keys) for bench_load
    BENCH_INGEST_SITES=10 BENCH_INGEST_PATIENTS=5000 python bench/bench_ingest.py   # any other scale

Every step runs a real ``pdva`` command as a subprocess (wall time, CPU and peak RSS from wait4()) on
PostgreSQL databases of this run (``pdva_bench_ingest_<pid>_<role>``, dropped at the end). Baselines are
measured in the same run on the same data:

- start-up: ``pdva check`` and ``pdva --help``, best of three; target < 2 s CPU each.
- seed: ``pdva seed --sites S --patients P --years Y`` into a migrated database; target < 10 min, peak RSS
  < 1 GB.
- ``pdva followup run`` on the freshly seeded registry (every PROM unscored); target < 10 min, RSS < 1 GB.
- ``pdva export full`` of the whole registry (a data manager at every site), then into a fresh migrated
  database ``pdva import --dry-run`` (target < 2 min, peak RSS at most 256 MB above ``pdva check``'s: the
  validation streams) and ``pdva import`` (target < 10 min and within 10x the floor). The floor: every row
  the import left in its database, copied out and loaded back with psql ``\\copy ... FROM`` in one
  transaction into an empty copy of the same schema (indexes and constraints in place).
- ``pdva backup`` against ``pg_dump -Fc`` of the same database, ``pdva restore`` into a fresh (not migrated)
  database against ``pg_restore`` of that dump into another; each within 5x, restore RSS < 1 GB. If restore
  refuses a fresh database, that is a MISS of its own, and the time is then taken as migrate + restore.
- ``pdva audit verify``: passes on the resulting chain; and its time grows linearly: the chain walk it runs
  (``verify_chain()``, timed inside one ``pdva shell`` so start-up is left out), time per entry on the seeded
  chain of P patients over that of a separately seeded P/4; target <= 1.5.
- SQLite: ``pdva demo --no-serve`` (migrate, seed the demo cohort, follow-up run, demo users) on a fresh
  file; target < 2 min. Then the same commands (seed, follow-up run, export, dry run, import, backup,
  restore into a fresh file, verify) on a small SQLite cohort must each succeed.

Time limits are stated at 50,000 patients. At a smaller scale (``--quick``) an absolute limit scales with the
patient count plus 2 s for start-up (the start-up target), and a ratio against a PostgreSQL baseline uses the
command's time net of start-up, since at a few hundred patients start-up would be the whole measurement.
A command that fails or overruns (3x its limit, at least 5 min) is stopped and its targets MISS.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import (  # noqa: E402
    FULL_PATIENTS,
    Database,
    Report,
    Run,
    Scale,
    Workspace,
    best,
    cli,
    dependency_order,
    pg_foreign_keys,
    pg_query,
    pg_table_counts,
    run_command,
    scaled_limit,
)

STARTUP_CPU_S = 2.0
MEMORY_MB = 1024.0
DRY_RUN_EXTRA_MB = 256.0
AUDIT_TABLE = "audit_auditentry"
DATA_MANAGER = "bench-datamanager"
ADMIN = "bench-admin"

CREATE_DATA_MANAGER = f"""
from django.contrib.auth import get_user_model
from pdva.accounts.models import Membership
from pdva.audit.context import audit_context
from pdva.registry.models import Site
with audit_context(label="system:bench", reason="benchmark: full export as a data manager of every site"):
    user = get_user_model().objects.create_user({DATA_MANAGER!r})
    for site in Site.objects.all():
        Membership(user=user, site=site, role="site_data_manager").save()
"""
TIME_VERIFY = """
import json, time
from pdva.audit.verify import verify_chain
wall, cpu = time.perf_counter(), time.process_time()
entries = verify_chain()
print("BENCH " + json.dumps({"entries": entries, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))
"""
CREATE_ADMIN = f"""
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser({ADMIN!r}, password=None)
"""


class IngestBench:
    def __init__(self, ws: Workspace, report: Report, scale: Scale) -> None:
        self.ws = ws
        self.report = report
        self.scale = scale
        self.today = dt.date.today().isoformat()
        self.startup_s = 0.0  # best `pdva check` wall: what every command pays before working
        self.startup_rss_mb = 0.0

    # limits --------------------------------------------------------------------------------------------
    def limit(self, full_limit_s: float) -> float:
        fixed = 0.0 if self.scale.full else STARTUP_CPU_S
        return scaled_limit(full_limit_s, self.scale.patients, FULL_PATIENTS, fixed)

    @staticmethod
    def timeout(limit_s: float) -> float:
        return max(3 * limit_s, 300.0)

    def ratio_timeout(self, baseline: Run, ratio: float) -> float:
        """When to stop a command judged against ``baseline``: 3x its allowance, at least 5 minutes."""
        allowance = ratio * baseline.wall_s + (0.0 if self.scale.full else self.startup_s)
        return self.timeout(allowance) if baseline.ok else 7200.0

    def net(self, run: Run) -> float:
        """A command's time for a ratio against a PostgreSQL tool: raw at full scale, net of start-up below."""
        return run.wall_s if self.scale.full else max(run.wall_s - self.startup_s, 0.0)

    # steps ------------------------------------------------------------------------------------------------
    def pdva(
        self, label: str, args: list[str], db: Database, *, timeout: float | None = None, **env: str
    ) -> Run:
        run = self.ws.pdva(args, db, timeout=timeout, **env)
        self.report.info(f"{label}: {run.describe()}")
        return run

    def time_target(self, name: str, run: Run, limit_s: float) -> None:
        measured = run.wall_s if (run.ok or run.timed_out) else None
        self.report.target(name, measured, limit_s, "s", "<", note=run.why())

    def rss_target(self, name: str, run: Run, limit_mb: float = MEMORY_MB) -> None:
        measured = run.max_rss_mb if (run.ok or run.timed_out) else None
        self.report.target(name, measured, limit_mb, "MB", "<", note=run.why())

    def ratio_target(self, name: str, run: Run, baseline: Run, limit: float) -> None:
        if not baseline.ok:
            self.report.target(name, None, limit, "x", note=f"baseline failed: {baseline.why()}")
            return
        measured = self.net(run) / baseline.wall_s if (run.ok or run.timed_out) else None
        self.report.info(
            f"  {name}: {self.net(run):.2f} s{'' if self.scale.full else ' net of start-up'} "
            f"vs {baseline.wall_s:.2f} s"
        )
        self.report.target(name, measured, limit, "x", note=run.why())

    def startup(self) -> None:
        db = self.ws.sqlite("startup")
        checks = [self.pdva("pdva check", ["check"], db) for _ in range(3)]
        helps = [self.pdva("pdva --help", ["--help"], db) for _ in range(3)]
        for label, runs in (("pdva check", checks), ("pdva --help", helps)):
            fastest = best([r for r in runs if r.ok] or runs, "cpu_s")
            measured = fastest.cpu_s if fastest.ok else None
            self.report.target(
                f"start-up: {label} CPU (best of 3)", measured, STARTUP_CPU_S, "s", "<", note=fastest.why()
            )
        ok = [r for r in checks if r.ok]
        if ok:
            self.startup_s = best(ok).wall_s
            self.startup_rss_mb = min(r.max_rss_mb for r in ok)

    def seed(self, db: Database, patients: int, label: str) -> Run:
        self.pdva(f"{label}: migrate", ["migrate", "-v", "0"], db, timeout=600).check()
        limit = self.limit(600)
        args = ["seed", "--sites", self.scale.sites, "--patients", patients, "--years", self.scale.years]
        args += ["--seed", "1", "--cutoff", self.today]
        run = self.pdva(
            f"{label}: pdva seed {patients:,} patients",
            [str(a) for a in args],
            db,
            timeout=self.timeout(limit),
        )
        if run.ok:
            self.report.info(f"  {patients / run.wall_s:.1f} patients/s; {self.entries(db):,} audit entries")
        return run

    def entries(self, db: Database) -> int:
        return int(pg_query(db, f"SELECT count(*) FROM {AUDIT_TABLE}")[0][0])

    def verify_linear(self, big: Database, small: Database) -> None:
        """Verification time per entry at N and about N/4 entries (chains of the same kind: seeded). Timed
        inside one process around the function `pdva audit verify` calls, so start-up (seconds, and noisy on a
        shared machine) does not drown the walk at small sizes; best of three below full scale."""
        reps = 1 if self.scale.full else 3
        name = "audit verify: time per entry at N / at N/4"
        per_entry = []
        for db in (big, small):
            runs = [
                self.pdva("  verify_chain() in one process", ["shell", "-c", TIME_VERIFY], db, timeout=3600)
                for _ in range(reps)
            ]
            if not all(r.ok for r in runs):
                self.report.target(name, None, 1.5, "x", note=next(r.why() for r in runs if not r.ok))
                return
            timings = [json.loads(r.stdout.split("BENCH ", 1)[1].splitlines()[0]) for r in runs]
            fastest = min(timings, key=lambda t: t["wall"])
            n = fastest["entries"]
            self.report.info(
                f"  {n:,} entries: walk {fastest['wall']:.2f} s wall, {fastest['cpu']:.2f} s CPU "
                f"({fastest['wall'] / n * 1e6:.0f} us/entry)"
            )
            per_entry.append(fastest["wall"] / n)
        self.report.target(name, per_entry[0] / per_entry[1], 1.5, "x")

    def export_import(self, source: Database) -> None:
        self.pdva("create a data manager of every site", ["shell", "-c", CREATE_DATA_MANAGER], source).check()
        export = self.ws.path("full-export.zip")
        run = self.pdva(
            "pdva export full",
            ["export", "full", "--out", str(export), "--user", DATA_MANAGER],
            source,
            timeout=3600,
        )
        if not run.ok:
            for name in ("import --dry-run", "import"):
                self.report.target(
                    f"{name}: wall", None, self.limit(600), "s", "<", note=f"export failed: {run.why()}"
                )
            return
        with zipfile.ZipFile(export) as zf:
            unzipped = sum(i.file_size for i in zf.infolist())
        self.report.info(
            f"  export: {export.stat().st_size / 1e6:.1f} MB zip, {unzipped / 1e6:.1f} MB of CSV"
        )

        target = self.ws.pg("import")
        self.pdva("import database: migrate", ["migrate", "-v", "0"], target, timeout=600).check()
        self.pdva("import database: an administrator", ["shell", "-c", CREATE_ADMIN], target).check()
        before = pg_table_counts(target)

        limit = self.limit(120)
        dry = self.pdva(
            f"pdva import --dry-run ({unzipped / 1e6:.0f} MB)",
            ["import", "--dry-run", str(export), "--user", ADMIN],
            target,
            timeout=self.timeout(limit),
        )
        self.time_target("import --dry-run: wall", dry, limit)
        self.rss_target(
            f"import --dry-run: peak RSS (pdva check's {self.startup_rss_mb:.0f} MB + {DRY_RUN_EXTRA_MB:.0f})",
            dry,
            self.startup_rss_mb + DRY_RUN_EXTRA_MB,
        )
        changed = [t for t, n in pg_table_counts(target).items() if n != before.get(t, 0)]
        self.report.target(
            "import --dry-run: tables it changed", len(changed), 0, "", "==", note=", ".join(changed[:5])
        )

        limit = self.limit(600)
        run = self.pdva(
            "pdva import", ["import", str(export), "--user", ADMIN], target, timeout=self.timeout(limit)
        )
        self.time_target("import of the full export: wall", run, limit)
        self.report.info(f"  import peak RSS {run.max_rss_mb:.0f} MB")
        after = pg_table_counts(target)
        written = {t: n for t, n in after.items() if n > before.get(t, 0)}
        self.report.info(
            f"  import wrote {sum(after[t] - before.get(t, 0) for t in written):,} rows in {len(written)} tables"
        )
        if not run.ok or not written:
            self.report.target(
                "import / COPY FROM floor", None, 10, "x", note=run.why() or "import wrote no rows"
            )
            return
        floor = self.copy_floor(target, [t for t, n in after.items() if n > 0])
        self.ratio_target("import / COPY FROM floor", run, floor, 10)
        self.ws.drop(target)

    def copy_floor(self, source: Database, tables: list[str]) -> Run:
        """Load every non-empty table of ``source`` into an empty copy of its schema with psql \\copy, in one
        transaction, parents before children (deferred constraints are checked at commit)."""
        floor_db = self.ws.pg("copyfloor")
        schema = self.ws.path("schema.sql")
        run_command(["pg_dump", "--schema-only", "-f", schema, "-d", source.libpq_url]).check()
        run_command(
            ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", schema, "-d", floor_db.libpq_url]
        ).check()
        order = dependency_order(tables, pg_foreign_keys(source))
        files = {t: self.ws.path(f"copy-{t}.tsv") for t in order}
        out_sql, in_sql = self.ws.path("copy-out.sql"), self.ws.path("copy-in.sql")
        out_sql.write_text("".join(f"\\copy \"{t}\" TO '{files[t]}'\n" for t in order), encoding="utf-8")
        in_sql.write_text("".join(f"\\copy \"{t}\" FROM '{files[t]}'\n" for t in order), encoding="utf-8")
        run_command(
            ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-f", out_sql, "-d", source.libpq_url]
        ).check()
        size = sum(f.stat().st_size for f in files.values())
        run = run_command(
            ["psql", "-q", "-X", "-1", "-v", "ON_ERROR_STOP=1", "-f", in_sql, "-d", floor_db.libpq_url]
        )
        rows = sum(pg_table_counts(floor_db).values()) if run.ok else 0
        self.report.info(
            f"floor: psql \\copy FROM of {rows:,} rows ({size / 1e6:.1f} MB) in {len(order)} tables: {run.describe()}"
        )
        self.ws.drop(floor_db)
        return run

    def backup_restore(self, source: Database) -> None:
        folder = self.ws.path("pdva-backup")
        folder.mkdir()
        dump_file = self.ws.path("registry.pgc")
        dump = run_command(["pg_dump", "-Fc", "-f", dump_file, "-d", source.libpq_url])
        self.report.info(
            f"pg_dump -Fc: {dump.describe()}; {dump_file.stat().st_size / 1e6:.1f} MB"
            if dump.ok
            else f"pg_dump failed: {dump.why()}"
        )
        timeout = self.ratio_timeout(dump, 5)
        backup = self.pdva("pdva backup", ["backup", str(folder / "registry")], source, timeout=timeout)
        self.ratio_target("backup / pg_dump -Fc", backup, dump, 5)

        pg_target = self.ws.pg("pgrestore")
        pg_restore = run_command(["pg_restore", "-d", pg_target.libpq_url, dump_file])
        self.report.info(f"pg_restore: {pg_restore.describe()}")
        self.ws.drop(pg_target)
        files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
        if not backup.ok or not files:
            note = "no backup to restore"
            self.report.target(
                "restore into a fresh (not migrated) database: exit code", None, 0, "", "==", note=note
            )
            self.report.target("restore / pg_restore", None, 5, "x", note=note)
            self.report.target("restore: peak RSS", None, MEMORY_MB, "MB", "<", note=note)
            return
        fresh = self.ws.pg("restore")
        timeout = self.ratio_timeout(pg_restore, 5)
        restore = self.pdva(
            "pdva restore (fresh database)", ["restore", str(files[-1])], fresh, timeout=timeout
        )
        self.report.target(
            "restore into a fresh (not migrated) database: exit code",
            restore.returncode,
            0,
            "",
            "==",
            note=restore.why(),
        )
        if not restore.ok and not restore.timed_out:
            self.ws.drop(fresh)
            fresh = self.ws.pg("restore_migrated")
            migrate = self.pdva("  then: migrate", ["migrate", "-v", "0"], fresh, timeout=600).check()
            restore = self.pdva("  then: pdva restore", ["restore", str(files[-1])], fresh, timeout=timeout)
            restore.wall_s += migrate.wall_s  # compare like with like: pg_restore also builds the schema
        self.ratio_target("restore / pg_restore", restore, pg_restore, 5)
        self.rss_target("restore: peak RSS", restore)
        self.ws.drop(fresh)

    def sqlite(self) -> None:
        demo_db = self.ws.sqlite("demo")
        demo = self.pdva(
            "SQLite: pdva demo --no-serve",
            ["demo", "--no-serve"],
            demo_db,
            timeout=900,
            PDVA_DEMO_MODE="true",
        )
        self.time_target("SQLite: demo set-up (migrate, seed, follow-up run)", demo, 120)
        self.ws.drop(demo_db)

        patients = 30 if not self.scale.full else 300
        a, b, c = self.ws.sqlite("smoke_a"), self.ws.sqlite("smoke_b"), self.ws.sqlite("smoke_c")
        export = self.ws.path("smoke-export.zip")
        folder = self.ws.path("smoke-backup")
        folder.mkdir()
        steps: list[tuple[str, list[str], Database]] = [
            ("(migrate)", ["migrate", "-v", "0"], a),
            ("seed", ["seed", "--sites", "3", "--patients", str(patients), "--cutoff", self.today], a),
            ("followup run", ["followup", "run", "--no-digest", "--today", self.today], a),
            ("(data manager)", ["shell", "-c", CREATE_DATA_MANAGER], a),
            ("export full", ["export", "full", "--out", str(export), "--user", DATA_MANAGER], a),
            ("(migrate the import target)", ["migrate", "-v", "0"], b),
            ("(administrator)", ["shell", "-c", CREATE_ADMIN], b),
            ("import --dry-run", ["import", "--dry-run", str(export), "--user", ADMIN], b),
            ("import", ["import", str(export), "--user", ADMIN], b),
            ("backup", ["backup", str(folder / "registry")], a),
            ("restore (fresh file)", ["restore", "RESTORE"], c),
            ("audit verify", ["audit", "verify"], a),
        ]
        for label, args, db in steps:
            if args[-1] == "RESTORE":
                found = sorted(folder.iterdir())
                args = ["restore", str(found[-1]) if found else str(folder / "missing")]
            run = self.pdva(f"SQLite: pdva {' '.join(args[:2])}", args, db, timeout=600)
            if not label.startswith("("):
                self.report.target(
                    f"SQLite: pdva {label}: exit code", run.returncode, 0, "", "==", note=run.why()
                )

    def section(self, title: str, step: Callable[[], object]) -> bool:
        """Run one part; a failure is recorded (the benchmark fails) and the independent parts still run."""
        self.report.info(f"\n--- {title} ---")
        try:
            step()
            return True
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            self.report.error = "; ".join(
                filter(None, [self.report.error, f"{title}: {exc}".splitlines()[0]])
            )
            return False

    def national(self) -> None:
        s = self.scale
        registry = self.ws.pg("registry")
        seed = self.seed(registry, s.patients, "registry")
        self.time_target(
            f"seed {s.sites} sites / {s.patients:,} patients / {s.years} y: wall", seed, self.limit(600)
        )
        self.rss_target("seed: peak RSS", seed)
        seed.check()

        def linear() -> None:
            quarter = self.ws.pg("quarter")
            self.seed(quarter, max(s.patients // 4, 1), "quarter registry").check()
            self.verify_linear(registry, quarter)
            self.ws.drop(quarter)

        def followup() -> None:
            limit = self.limit(600)
            args = ["followup", "run", "--no-digest", "--today", self.today]
            run = self.pdva(
                "pdva followup run (every PROM unscored)", args, registry, timeout=self.timeout(limit)
            )
            self.time_target("followup run on the fresh registry: wall", run, limit)
            self.rss_target("followup run: peak RSS", run)

        def verify() -> None:
            n = self.entries(registry)
            label = f"pdva audit verify ({n:,} entries, the resulting chain)"
            run = self.pdva(label, ["audit", "verify"], registry, timeout=3600)
            self.report.target(
                "audit verify passes on the resulting chain: exit code",
                run.returncode,
                0,
                "",
                "==",
                note=run.why(),
            )

        self.section("audit verify: linear in the entry count", linear)
        self.section("follow-up run on the freshly seeded registry", followup)
        self.section(
            "full export, import --dry-run, import, COPY floor", lambda: self.export_import(registry)
        )
        self.section("backup and restore against pg_dump / pg_restore", lambda: self.backup_restore(registry))
        self.section("audit verify on the resulting chain", verify)
        keep = os.environ.get("BENCH_INGEST_KEEP", "").strip()
        if keep:
            self.section(f"keep the seeded registry as {keep}", lambda: self.ws.keep(registry, keep))
        self.ws.drop(registry)

    def run(self) -> None:
        s = self.scale
        self.report.info(
            f"scale: {s.sites} sites, {s.patients:,} patients, {s.years} years; cut-off {self.today}; "
            f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        )
        self.section("start-up", self.startup)
        self.section("PostgreSQL at national scale", self.national)
        self.section("SQLite", self.sqlite)
        self.report.info(f"load average at end {os.getloadavg()[0]:.2f}")


def main(quick: bool, report: Report) -> None:
    with Workspace("ingest") as ws:
        IngestBench(ws, report, Scale.chosen("BENCH_INGEST", quick, Scale(3, 500, 8))).run()


if __name__ == "__main__":
    cli(main, "ingest", __doc__)
