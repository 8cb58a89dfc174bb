"""Backup and restore at scale (issue 11): ``pdva backup`` / ``pdva restore`` against ``pg_dump -Fc`` /
``pg_restore`` of the same PostgreSQL database, in the same run.

    python bench/bench_backup.py           # 30 sites, 50,000 patients, 8 years (the seed alone takes ~15 min)
    python bench/bench_backup.py --quick   # 3 sites, 1,000 patients, 5 years
    BENCH_BACKUP_SITES=10 BENCH_BACKUP_PATIENTS=5000 python bench/bench_backup.py   # any other scale

Steps, each a real subprocess measured with wait4() (wall, CPU, peak RSS), on databases of this run
(``pdva_bench_backup_<pid>_<role>``, dropped at the end):

1. ``pdva migrate`` and ``pdva seed`` into a new database (the registry).
2. ``pg_dump -Fc`` of it, then ``pdva backup`` of it: target backup / pg_dump < 5x.
3. ``pg_restore`` of the dump into a new empty database, then ``pdva restore`` of the backup into another new
   database that is not migrated (the restore migrates it, loads, verifies the audit chain): target
   restore / pg_restore < 5x, restore peak RSS < 1 GB, exit code 0.
4. On the restored database: ``pdva audit verify`` passes, and the audit log and patient table hold as many
   rows as the registry's.

At 50,000 patients the ratios are of raw wall times. At a smaller scale the fixed costs would be the whole
measurement (start-up is ~2 s, migrating an empty database several seconds, against a pg_dump of a second),
so the ratios there use each command's time net of its fixed cost, measured in the same run: ``pdva check``
(best of three) for the backup, ``pdva migrate`` of an empty database for the restore (start-up included).
The raw times are printed as well.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import (  # noqa: E402
    Database,
    Report,
    Run,
    Scale,
    Workspace,
    best,
    cli,
    pg_query,
    run_command,
)

RATIO = 5.0
MEMORY_MB = 1024.0
COUNTED = ("audit_auditentry", "registry_patient", "registry_procedure")


def counts(db: Database) -> dict[str, int]:
    return {t: int(pg_query(db, f'SELECT count(*) FROM "{t}"')[0][0]) for t in COUNTED}


class BackupBench:
    def __init__(self, ws: Workspace, report: Report, scale: Scale) -> None:
        self.ws = ws
        self.report = report
        self.scale = scale

    def pdva(self, label: str, args: list[str], db: Database, *, timeout: float = 7200) -> Run:
        run = self.ws.pdva(args, db, timeout=timeout)
        self.report.info(f"{label}: {run.describe()}")
        return run

    def tool(self, label: str, argv: list[str | Path]) -> Run:
        run = run_command([str(a) for a in argv], timeout=7200)
        self.report.info(f"{label}: {run.describe()}")
        return run

    def ratio(self, name: str, run: Run, fixed_s: float, baseline: Run) -> None:
        """``run`` against ``baseline``: raw at full scale, net of ``fixed_s`` below it."""
        if not baseline.ok:
            self.report.target(name, None, RATIO, "x", note=f"baseline failed: {baseline.why()}")
            return
        fixed = 0.0 if self.scale.full else fixed_s
        net = max(run.wall_s - fixed, 0.0)
        self.report.info(
            f"  {name}: {net:.2f} s{'' if self.scale.full else f' (net of {fixed:.2f} s fixed)'} "
            f"vs {baseline.wall_s:.2f} s; raw {run.wall_s / baseline.wall_s:.2f}x"
        )
        measured = net / baseline.wall_s if run.ok else None
        self.report.target(name, measured, RATIO, "x", "<", note=run.why())

    def run(self) -> None:
        s = self.scale
        self.report.info(f"scale: {s.sites} sites, {s.patients:,} patients, {s.years} years")
        registry = self.ws.pg("registry")
        self.pdva("registry: migrate", ["migrate", "-v", "0"], registry).check()
        args = ["seed", "--sites", s.sites, "--patients", s.patients, "--years", s.years, "--seed", "1"]
        self.pdva(f"registry: pdva seed {s.patients:,} patients", [str(a) for a in args], registry).check()
        source = counts(registry)
        self.report.info(f"  {source['audit_auditentry']:,} audit entries")

        # Fixed costs, for the ratios below full scale.
        startup = best([self.pdva("pdva check", ["check"], registry) for _ in range(3)]).check()
        empty = self.ws.pg("empty")
        migrate = self.pdva("pdva migrate (an empty database)", ["migrate", "-v", "0"], empty).check()
        self.ws.drop(empty)

        dump_file = self.ws.path("registry.pgc")
        dump = self.tool("pg_dump -Fc", ["pg_dump", "-Fc", "-f", dump_file, "-d", registry.libpq_url])
        if dump.ok:
            self.report.info(f"  {dump_file.stat().st_size / 1e6:.1f} MB")
        backup_base = self.ws.path("registry")
        backup = self.pdva("pdva backup", ["backup", str(backup_base), "--quiet"], registry)
        backup_file = backup_base.with_name(backup_base.name + ".jsonl.gz")
        if backup.ok:
            self.report.info(f"  {backup_file.stat().st_size / 1e6:.1f} MB")
        self.ratio("backup / pg_dump -Fc", backup, startup.wall_s, dump)

        pg_target = self.ws.pg("pgrestore")
        pg_restore = self.tool("pg_restore", ["pg_restore", "-d", pg_target.libpq_url, dump_file])
        self.ws.drop(pg_target)

        fresh = self.ws.pg("restore")
        restore = self.pdva(
            "pdva restore (a new, not migrated database)",
            ["restore", str(backup_file), "--quiet"],
            fresh,
        )
        self.report.target(
            "restore into a new (not migrated) database: exit code",
            restore.returncode,
            0,
            "",
            "==",
            note=restore.why(),
        )
        self.ratio("restore / pg_restore", restore, migrate.wall_s, pg_restore)
        self.report.target(
            "restore: peak RSS",
            restore.max_rss_mb if restore.ok else None,
            MEMORY_MB,
            "MB",
            "<",
            note=restore.why(),
        )
        if not restore.ok:
            return
        written = re.search(r"\((\d+) rows", backup.stdout)
        restored = re.search(r": (\d+) rows in", restore.stdout)
        self.report.target(
            "restore: rows restored - rows backed up",
            int(restored.group(1)) - int(written.group(1)) if written and restored else None,
            0,
            "",
            "==",
        )
        after = counts(fresh)
        self.report.target(
            f"restore: tables whose count differs ({', '.join(COUNTED)})",
            sum(after[t] != source[t] for t in COUNTED),
            0,
            "",
            "==",
            note=", ".join(f"{t} {after[t]} != {source[t]}" for t in COUNTED if after[t] != source[t]),
        )
        verify = self.pdva("pdva audit verify (restored)", ["audit", "verify"], fresh)
        self.report.target(
            "audit verify on the restored database: exit code",
            verify.returncode,
            0,
            "",
            "==",
            note=verify.why(),
        )


def main(quick: bool, report: Report) -> None:
    with Workspace("backup") as ws:
        BackupBench(ws, report, Scale.chosen("BENCH_BACKUP", quick, Scale(3, 1000, 5))).run()


if __name__ == "__main__":
    cli(main, "backup", __doc__)
