"""The benchmark harness judges targets honestly and cleans up after itself.

Pure checks of bench/_harness.py: a target passes only when its number is measured and within its limit,
database names are unique per run and valid PostgreSQL identifiers, a benchmark with a missed target or an
exception exits non-zero, and every database a workspace made is gone when it closes. No timing is asserted
(targets belong to `make bench`)."""

from __future__ import annotations

import json
import math
import sys

import psycopg
import pytest
from django.db import connection

from bench._harness import (
    PG_MAX_IDENTIFIER,
    Report,
    Target,
    Workspace,
    bench_db_name,
    dependency_order,
    format_targets,
    last_message,
    postgres_url,
    run_command,
    run_main,
    scaled_limit,
)


@pytest.mark.parametrize(
    ("measured", "limit", "compare", "passed"),
    [
        (599.0, 600, "<", True),
        (600.0, 600, "<", False),
        (10.0, 10, "<=", True),
        (10.01, 10, "<=", False),
        (80.0, 80, ">=", True),
        (79.9, 80, ">=", False),
        (21.0, 20, ">", True),
        (0, 0, "==", True),
        (1, 0, "==", False),
    ],
)
def test_a_target_passes_only_within_its_limit(measured, limit, compare, passed):  # type: ignore[no-untyped-def]
    target = Target("t", measured, limit, "s", compare)
    assert target.passed is passed
    assert target.verdict == ("PASS" if passed else "MISS")


@pytest.mark.parametrize("measured", [None, math.nan, math.inf])
def test_an_unmeasured_target_is_a_miss_whatever_the_comparison(measured):  # type: ignore[no-untyped-def]
    assert not Target("t", measured, 1e9, "s", "<").passed
    assert not Target("t", measured, -1e9, "s", ">").passed


def test_an_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="compare"):
        Target("t", 1, 2, "s", "~")


def test_targets_round_trip_through_json_and_nan_becomes_unmeasured():
    report = Report("x", targets=[Target("a", 1.5, 2, "x"), Target("b", math.nan, 2, "x", note="failed")])
    back = Report.from_json(json.loads(json.dumps(report.to_json())))
    assert back.targets[0] == report.targets[0]
    assert back.targets[1].measured is None and back.targets[1].note == "failed"
    assert not back.ok


def test_the_table_names_every_target_with_its_verdict():
    targets = [Target("seed wall", 512.0, 600, "s", "<"), Target("restore ratio", 7.2, 5, "x")]
    table = format_targets(targets, ["ingest", "ingest"])
    lines = table.splitlines()
    assert lines[0].split() == ["bench", "target", "measured", "limit", "verdict"]
    assert "seed wall" in lines[2] and lines[2].rstrip().endswith("PASS")
    assert "restore ratio" in lines[3] and lines[3].rstrip().endswith("MISS")
    with pytest.raises(ValueError):
        format_targets(targets, ["only one"])


def test_scaled_limits_shrink_with_the_cohort_plus_a_fixed_allowance():
    assert scaled_limit(600, 50_000, 50_000, fixed_s=2) == 600
    assert scaled_limit(600, 80_000, 50_000, fixed_s=2) == 600
    assert scaled_limit(600, 500, 50_000, fixed_s=2) == pytest.approx(8.0)
    with pytest.raises(ValueError):
        scaled_limit(600, 500, 0)


def test_database_names_are_unique_per_run_and_valid_identifiers():
    name = bench_db_name("ingest", 4242, "copy floor")
    assert name == "pdva_bench_ingest_4242_copy_floor"
    assert bench_db_name("ingest", 4242) != bench_db_name("ingest", 4243)
    assert bench_db_name("ingest", 4242, "a") != bench_db_name("ingest", 4242, "b")
    long = bench_db_name("A very-long benchmark name; with $ymbols " * 3, 1234567, "restore_migrated")
    assert len(long) <= PG_MAX_IDENTIFIER
    assert long.startswith("pdva_bench_") and long.endswith("_1234567_restore_migrated")
    assert all(c.isalnum() or c == "_" for c in long) and long == long.lower()


def test_postgres_urls_change_only_the_database():
    assert postgres_url("postgres://u@h:5432/postgres", "x") == "postgres://u@h:5432/x"
    assert postgres_url("postgres://u@h/postgres?sslmode=disable", "x") == "postgres://u@h/x?sslmode=disable"


def test_tables_load_after_the_tables_they_reference():
    edges = [("visit", "procedure"), ("procedure", "patient"), ("patient", "site"), ("site", "site")]
    order = dependency_order(["visit", "site", "procedure", "patient", "other"], edges)
    assert order.index("site") < order.index("patient") < order.index("procedure") < order.index("visit")
    assert sorted(order) == ["other", "patient", "procedure", "site", "visit"]
    assert sorted(dependency_order(["a", "b"], [("a", "b"), ("b", "a")])) == ["a", "b"]  # a cycle ends


def test_a_missed_target_or_an_exception_fails_the_benchmark(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    results = tmp_path / "results.json"
    monkeypatch.setenv("PDVA_BENCH_RESULTS", str(results))

    def passing(quick: bool, report: Report) -> None:
        report.target("fast enough", 1.0, 2.0, "s", "<")

    def missing(quick: bool, report: Report) -> None:
        report.target("fast enough", 3.0, 2.0, "s", "<")

    def crashing(quick: bool, report: Report) -> None:
        report.target("measured first", 1.0, 2.0, "s", "<")
        raise RuntimeError("database went away")

    assert run_main(passing, "p", quick=True) == 0
    assert run_main(missing, "m", quick=True) == 1
    assert json.loads(results.read_text())["targets"][0]["measured"] == 3.0
    assert run_main(crashing, "c", quick=True) == 1
    saved = Report.from_json(json.loads(results.read_text()))
    assert saved.error == "RuntimeError: database went away"
    assert [t.name for t in saved.targets] == ["measured first"]  # what it measured before failing is kept


def test_a_measured_command_reports_its_exit_code_output_and_memory():
    child = "import sys; block = bytearray(200 * 1024 * 1024); print('done'); sys.exit(3)"
    run = run_command([sys.executable, "-c", child])
    assert run.returncode == 3 and not run.ok and not run.timed_out
    assert run.stdout.strip() == "done"
    assert run.max_rss_mb >= 200  # the child's own peak, not the test process's
    assert "exit 3" in run.why()


def test_a_failure_is_named_by_its_error_line_not_the_traceback_decoration():
    traceback_text = (
        'Traceback (most recent call last):\n  File "x.py", line 1\n    restore()\n       ^^^^\n'
        'django.db.utils.ProgrammingError: relation "audit_auditentry" does not exist\n'
    )
    assert last_message(traceback_text).startswith("django.db.utils.ProgrammingError: relation")
    assert last_message("CommandError: import refused\n") == "CommandError: import refused"
    assert last_message("  plain trailing line  \n\n") == "plain trailing line"
    assert last_message("") == "no output"


def test_a_command_over_its_time_is_stopped():
    run = run_command([sys.executable, "-c", "import time; time.sleep(120)"], timeout=1)
    assert run.timed_out and not run.ok
    assert run.wall_s < 120
    assert run.why().startswith("stopped after")


def test_a_workspace_removes_its_sqlite_files_and_directory():
    with Workspace("harness-test") as ws:
        db = ws.sqlite("a")
        path = ws.tmp / (bench_db_name("harness-test", ws.pid, "a") + ".sqlite3")
        assert db.name == str(path) and db.url == f"sqlite:///{path}"
        path.write_bytes(b"x")
        env = ws.env(db)
        assert env["PDVA_DATABASE_URL"] == db.url and env["PDVA_ENV"] == "test"
        assert "PDVA_BENCH_RESULTS" not in env
        with pytest.raises(ValueError):
            ws.sqlite("a")
        ws.drop(db)
        assert not path.exists()
        ws.sqlite("b")
        tmp = ws.tmp
    assert not tmp.exists()


def test_a_workspace_drops_every_postgresql_database_it_made():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL databases: the PostgreSQL run checks them")
    s = connection.settings_dict
    admin = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/postgres"

    def exists(name: str) -> bool:
        with psycopg.connect(admin, autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    ws = Workspace("harness-test", admin_url=admin)
    try:
        first, second = ws.pg("one"), ws.pg("two")
        assert first.name == bench_db_name("harness-test", ws.pid, "one")
        assert exists(first.name) and exists(second.name)
        ws.drop(first)
        assert not exists(first.name)
    finally:
        ws.close()
    assert not exists(second.name)
    ws.close()  # closing twice is harmless
