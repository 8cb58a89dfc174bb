"""Shared benchmark harness: targets that can fail, throw-away databases, and measured subprocesses.

A benchmark is a script ``bench/bench_<name>.py`` with ``main(quick, report)``; its ``__main__`` block calls
``cli(main, "<name>", __doc__)``. It records each measured number against its target with
``report.target(...)``; the run prints a PASS/MISS table and exits non-zero when any target is missed or the
benchmark failed. ``bench/run_all.py`` (``make bench``) runs every benchmark in its own process and collects the
targets through a JSON file named by ``PDVA_BENCH_RESULTS``.

Databases come from a ``Workspace``: each one is named after the benchmark and its process id
(``pdva_bench_<name>_<pid>[_<suffix>]`` on PostgreSQL, a file in a private temporary directory on SQLite), is
created when asked for and dropped at the end, on success, on an exception, on SIGTERM/SIGINT and at
interpreter exit, so two runs on one server never collide and nothing is left behind.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("PDVA_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
RESULTS_ENV = "PDVA_BENCH_RESULTS"
PG_MAX_IDENTIFIER = 63
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}


# --- targets ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One measured number against its limit. ``measured`` None or NaN means it could not be measured (the
    command failed or was stopped): that is a MISS, never a pass."""

    name: str
    measured: float | None
    limit: float
    unit: str
    compare: str = "<="
    note: str = ""

    def __post_init__(self) -> None:
        if self.compare not in COMPARISONS:
            raise ValueError(f"compare must be one of {sorted(COMPARISONS)}, got {self.compare!r}")

    @property
    def passed(self) -> bool:
        if self.measured is None or not math.isfinite(self.measured):
            return False
        return COMPARISONS[self.compare](self.measured, self.limit)

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "MISS"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.measured is not None and not math.isfinite(self.measured):
            out["measured"] = None  # JSON has no NaN
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(**data)


def fmt_number(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def format_targets(targets: Sequence[Target], benches: Sequence[str] | None = None) -> str:
    """A fixed-width table: target, measured, limit, verdict; with ``benches`` (one per target), a first
    column naming the benchmark each target belongs to."""
    head = ["target", "measured", "limit", "verdict"]
    rows = [
        [
            t.name,
            f"{fmt_number(t.measured)} {t.unit}".strip(),
            f"{t.compare} {fmt_number(t.limit)} {t.unit}".strip(),
            t.verdict + (f" ({t.note})" if t.note else ""),
        ]
        for t in targets
    ]
    if benches is not None:
        if len(benches) != len(rows):
            raise ValueError("one bench name per target")
        head = ["bench", *head]
        rows = [[b, *r] for b, r in zip(benches, rows, strict=True)]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def missed(targets: Iterable[Target]) -> list[Target]:
    return [t for t in targets if not t.passed]


def scaled_limit(full_limit_s: float, size: float, full_size: float, fixed_s: float = 0.0) -> float:
    """A time limit stated at full scale, scaled to a smaller run: proportional to the size, plus a fixed
    allowance (for process start-up, which does not shrink with the data)."""
    if full_size <= 0:
        raise ValueError("full_size must be positive")
    if size >= full_size:
        return full_limit_s
    return full_limit_s * size / full_size + fixed_s


@dataclass
class Report:
    """What one benchmark measured: targets (PASS/MISS) and free-form lines, printed as they come."""

    bench: str
    targets: list[Target] = field(default_factory=list)
    error: str = ""

    def target(
        self,
        name: str,
        measured: float | None,
        limit: float,
        unit: str,
        compare: str = "<=",
        note: str = "",
    ) -> Target:
        t = Target(name, measured, limit, unit, compare, note)
        self.targets.append(t)
        print(
            f"  [{t.verdict}] {name}: {fmt_number(measured)} {unit} (target {compare} {fmt_number(limit)})",
            flush=True,
        )
        return t

    def info(self, text: str) -> None:
        print(text, flush=True)

    @property
    def ok(self) -> bool:
        return not self.error and not missed(self.targets)

    def to_json(self) -> dict[str, Any]:
        return {"bench": self.bench, "error": self.error, "targets": [t.to_json() for t in self.targets]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            bench=data["bench"],
            error=data.get("error", ""),
            targets=[Target.from_json(t) for t in data.get("targets", [])],
        )

    def summary(self) -> str:
        lines = [f"----- {self.bench}: targets -----"]
        lines.append(format_targets(self.targets) if self.targets else "(no targets recorded)")
        if self.error:
            lines.append(f"FAILED: {self.error}")
        n_miss = len(missed(self.targets))
        lines.append(
            f"{self.bench}: {len(self.targets) - n_miss} passed, {n_miss} missed"
            + (", benchmark failed" if self.error else "")
        )
        return "\n".join(lines)


def cli(main: Callable[[bool, Report], None], bench: str, description: str | None = None) -> None:
    """Run a benchmark from its ``__main__`` block: ``--quick`` for the small sizes. Prints the target table,
    writes the JSON report where ``PDVA_BENCH_RESULTS`` says, and exits 1 on a missed target or a failure."""
    import argparse

    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (for development and CI)")
    args = parser.parse_args()
    sys.exit(run_main(main, bench, quick=args.quick or os.environ.get("BENCH_QUICK") == "1"))


def run_main(main: Callable[[bool, Report], None], bench: str, *, quick: bool) -> int:
    report = Report(bench)
    try:
        main(quick, report)
    except BaseException as exc:  # noqa: BLE001 - a failed benchmark is reported, with what it measured so far
        traceback.print_exc()
        report.error = f"{type(exc).__name__}: {exc}"
    print("\n" + report.summary(), flush=True)
    results = os.environ.get(RESULTS_ENV)
    if results:
        Path(results).write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    return 0 if report.ok else 1


# --- measured subprocesses -------------------------------------------------------------------------------


@dataclass
class Run:
    """A finished (or stopped) subprocess: wall and CPU seconds, peak RSS of the process (and the children it
    waited for), exit code and captured output."""

    argv: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def why(self) -> str:
        """Short reason a run failed, for a MISS note."""
        if self.timed_out:
            return f"stopped after {self.wall_s:.0f} s"
        if self.returncode == 0:
            return ""
        return f"exit {self.returncode}: {last_message(self.stderr or self.stdout)[:160]}"

    def check(self) -> Run:
        if not self.ok:
            raise RuntimeError(f"{' '.join(self.argv[:4])} failed ({self.why()})\n{self.stderr[-3000:]}")
        return self

    def describe(self) -> str:
        """Wall, CPU and peak memory, for a report line."""
        state = "" if self.ok else f" [{self.why()}]"
        share = f" ({100 * self.cpu_s / self.wall_s:.0f}% of a core)" if self.wall_s > 0 else ""
        return f"{self.wall_s:.1f} s wall, {self.cpu_s:.1f} s CPU{share}, {self.max_rss_mb:.0f} MB peak RSS{state}"


FULL_PATIENTS = 50_000  # the national scale the targets are stated at


@dataclass(frozen=True)
class Scale:
    """The cohort a benchmark seeds: the quick or the national default, each part overridable by
    ``<PREFIX>_SITES``, ``<PREFIX>_PATIENTS`` and ``<PREFIX>_YEARS``."""

    sites: int
    patients: int
    years: int

    @classmethod
    def chosen(cls, env_prefix: str, quick: bool, quick_default: Scale) -> Scale:
        default = quick_default if quick else cls(30, FULL_PATIENTS, 8)
        return cls(
            int(os.environ.get(f"{env_prefix}_SITES", default.sites)),
            int(os.environ.get(f"{env_prefix}_PATIENTS", default.patients)),
            int(os.environ.get(f"{env_prefix}_YEARS", default.years)),
        )

    @property
    def full(self) -> bool:
        return self.patients >= FULL_PATIENTS


def last_message(output: str) -> str:
    """The line that says what went wrong: the last unindented ``Something: text`` line (a traceback's
    exception or a command's error), else the last non-empty line."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*: \S", line):
            return line
    return lines[-1].strip() if lines else "no output"


# Children being measured, each with the event its reaping thread sets (only that thread waits for it;
# an Event, not Thread.is_alive(): a join() interrupted by a signal marks a running thread as stopped).
_running: dict[int, threading.Event] = {}


def _kill_group(pid: int, reaped: threading.Event, grace_s: float = 10.0) -> None:
    """SIGTERM the child's process group, then SIGKILL if it has not been reaped within ``grace_s``."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if reaped.wait(wait):
            return


def run_command(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    stdin_path: Path | None = None,
) -> Run:
    """Run ``argv`` in its own process group and measure it with wait4(): wall time, user+system CPU and
    peak RSS of exactly this child. Output goes to temporary files (no pipe to fill up). On ``timeout`` the
    group gets SIGTERM then SIGKILL and the run comes back with ``timed_out``."""
    argv = [str(a) for a in argv]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        open(stdin_path or os.devnull, "rb") as stdin,
    ):
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True
        )
        waited: list[tuple[float, int, Any]] = []
        reaped = threading.Event()

        def reap() -> None:
            _pid, status, usage = os.wait4(proc.pid, 0)
            waited.append((time.perf_counter(), status, usage))
            reaped.set()

        threading.Thread(target=reap, daemon=True).start()
        _running[proc.pid] = reaped
        try:
            timed_out = not reaped.wait(timeout)
            if timed_out:
                _kill_group(proc.pid, reaped)
                reaped.wait()
        finally:
            if not reaped.is_set():  # interrupted (a signal is unwinding the run): stop the child first
                _kill_group(proc.pid, reaped, grace_s=2.0)
            _running.pop(proc.pid, None)
        ended, status, usage = waited[0]
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Run(
            argv=argv,
            returncode=proc.returncode,
            wall_s=ended - started,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            timed_out=timed_out,
        )


def pdva_command() -> str:
    """The ``pdva`` script of the interpreter running the benchmark (the project's venv)."""
    candidate = Path(sys.executable).parent / "pdva"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("pdva")
    if not found:
        raise RuntimeError("no pdva command next to the interpreter or on PATH (run ./scripts/setup.sh)")
    return found


def best(runs: Sequence[Run], key: str = "wall_s") -> Run:
    """The fastest of several runs of the same command (the machine is shared)."""
    return min(runs, key=lambda r: getattr(r, key))


# --- databases -------------------------------------------------------------------------------------------


def bench_db_name(bench: str, pid: int | None = None, suffix: str = "") -> str:
    """``pdva_bench_<bench>_<pid>[_<suffix>]``: lower-case letters, digits and underscores only, at most 63
    characters (PostgreSQL's identifier limit), the pid kept whole so concurrent runs never share a name."""

    def clean(text: str) -> str:
        return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", text.lower())).strip("_")

    pid = os.getpid() if pid is None else pid
    tail = f"_{pid}" + (f"_{clean(suffix)}" if clean(suffix) else "")
    head = f"pdva_bench_{clean(bench) or 'bench'}"
    return head[: PG_MAX_IDENTIFIER - len(tail)].rstrip("_") + tail


def postgres_url(admin_url: str, dbname: str) -> str:
    """The admin URL with its database replaced (query string, if any, kept)."""
    base, sep, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + dbname + (sep + query if sep else "")


@dataclass(frozen=True)
class Database:
    vendor: str  # "postgresql" or "sqlite"
    name: str  # database name, or the SQLite file path
    url: str  # for PDVA_DATABASE_URL

    @property
    def libpq_url(self) -> str:
        """For psql, pg_dump and pg_restore."""
        if self.vendor != "postgresql":
            raise ValueError("not a PostgreSQL database")
        return self.url


class Workspace:
    """Throw-away databases and files of one benchmark run, removed however the run ends.

    Use as a context manager. ``pg(suffix)`` creates a PostgreSQL database, ``sqlite(suffix)`` names a SQLite
    file, ``path(name)`` a file in the private temporary directory; ``env(db)`` is the environment for a
    ``pdva`` subprocess on that database (test settings, keys in the private directory so every command of
    the run shares them). ``drop(db)`` removes one early (to save disk); everything left goes at close()."""

    def __init__(self, bench: str, admin_url: str = ADMIN_URL) -> None:
        self.bench = bench
        self.admin_url = admin_url
        self.pid = os.getpid()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"pdva-bench-{bench}-"))
        self.databases: list[Database] = []
        self._closed = False
        self._previous_handlers: dict[int, Any] = {}
        atexit.register(self.close)

    def __enter__(self) -> Workspace:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._previous_handlers[sig] = signal.signal(sig, _exit_on_signal)
            except ValueError:  # not the main thread: atexit still cleans up
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)

    # databases ---------------------------------------------------------------------------------------
    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10)

    def pg(self, suffix: str = "", template: str | None = None) -> Database:
        """A new PostgreSQL database for this run; with ``template``, a copy of that database."""
        name = bench_db_name(self.bench, self.pid, suffix)
        if any(d.name == name for d in self.databases):
            raise ValueError(f"database {name} already made in this run")
        with self._admin() as conn:
            if template:
                from psycopg import sql

                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                )
            else:
                conn.execute(f'CREATE DATABASE "{name}"')
        db = Database("postgresql", name, postgres_url(self.admin_url, name))
        self.databases.append(db)
        return db

    def sqlite(self, suffix: str = "") -> Database:
        path = self.tmp / f"{bench_db_name(self.bench, self.pid, suffix)}.sqlite3"
        if any(d.name == str(path) for d in self.databases):
            raise ValueError(f"database {path} already made in this run")
        db = Database("sqlite", str(path), f"sqlite:///{path}")
        self.databases.append(db)
        return db

    def drop(self, db: Database) -> None:
        if db not in self.databases:
            return
        if db.vendor == "postgresql":
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        else:
            for path in (Path(db.name), *Path(db.name).parent.glob(Path(db.name).name + "-*")):
                path.unlink(missing_ok=True)
        self.databases.remove(db)

    def keep(self, db: Database, name: str) -> Path:
        """Copy a PostgreSQL database of this run to ``name`` (which outlives the run) and its key files to
        ``/tmp/<name>-keys`` (a registry is unreadable without the keys it was written with). Returns the
        keys folder, for ``BENCH_LOAD_TEMPLATE_KEYS``."""
        from psycopg import sql

        keys = Path(tempfile.gettempdir()) / f"{name}-keys"
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(db.name)
                )
            )
        shutil.rmtree(keys, ignore_errors=True)
        shutil.copytree(self.tmp / "var", keys)
        print(f"bench: kept {db.name} as {name}; keys in {keys}", flush=True)
        return keys

    # files and environments -------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.tmp / name

    def env(self, db: Database, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != RESULTS_ENV}
        env.update(
            PDVA_ENV="test",
            PDVA_DATABASE_URL=db.url,
            PDVA_VAR_DIR=str(self.tmp / "var"),
            PDVA_AXES_ENABLED="false",
            DJANGO_SETTINGS_MODULE="pdva.settings",
        )
        env.update(extra)
        return env

    def pdva(self, args: Sequence[str], db: Database, *, timeout: float | None = None, **extra: str) -> Run:
        return run_command([pdva_command(), *args], env=self.env(db, **extra), cwd=ROOT, timeout=timeout)

    def close(self) -> None:
        """Stop any child still running, drop every database made, remove the directory. Idempotent."""
        if self._closed or os.getpid() != self.pid:
            return
        self._closed = True
        for pid, reaped in list(_running.items()):
            _kill_group(pid, reaped, grace_s=2.0)
        for db in list(self.databases):
            try:
                self.drop(db)
            except Exception as exc:  # noqa: BLE001 - report and go on dropping the others
                print(f"bench: could not drop {db.name}: {exc}", file=sys.stderr, flush=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _exit_on_signal(signum: int, _frame: object) -> None:
    # SystemExit unwinds through every finally/with block, so the databases are dropped.
    raise SystemExit(128 + signum)


# --- small PostgreSQL helpers -----------------------------------------------------------------------------


def pg_query(db: Database, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(db.url, autocommit=True, connect_timeout=10) as conn:
        cursor = conn.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []  # ANALYZE returns no rows


def pg_table_counts(db: Database) -> dict[str, int]:
    """Exact row count of every table in the public schema."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(db.url, autocommit=True, connect_timeout=10) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {
            t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
            for t in tables
        }


def dependency_order(tables: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """``tables`` with every table after the tables it references (``edges``: (table, referenced)); ties
    and cycles fall back to name order, self-references are ignored."""
    pending = sorted(set(tables))
    needs = {t: set() for t in pending}
    for child, parent in edges:
        if child in needs and parent in needs and child != parent:
            needs[child].add(parent)
    ordered: list[str] = []
    while pending:
        ready = [t for t in pending if not needs[t] - set(ordered)] or pending[:1]
        ordered += ready
        pending = [t for t in pending if t not in ready]
    return ordered


def pg_foreign_keys(db: Database) -> list[tuple[str, str]]:
    """(table, referenced table) for every foreign key in the public schema."""
    return [
        (child, parent)
        for child, parent in pg_query(
            db,
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = 'public'",
        )
    ]
