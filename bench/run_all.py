"""`make bench`: run every bench/bench_*.py, each in its own process, and judge every target.

    python bench/run_all.py                   # full sizes
    python bench/run_all.py --quick           # small sizes (BENCH_QUICK=1 does the same)
    python bench/run_all.py bench_ingest ...  # only the named benchmarks

Each benchmark measures its own baseline in the same run, prints its numbers and records its targets (see
bench/_harness.py). A benchmark runs in a fresh interpreter (its own Django settings and database, and its
own peak memory). At the end one table lists every target with PASS or MISS; the exit status is 1 when any
target was missed, a benchmark failed, or a benchmark recorded no result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench._harness import RESULTS_ENV, Report, Target, format_targets, missed  # noqa: E402


def run_one(path: Path, *, quick: bool, timeout: float | None) -> Report:
    with tempfile.TemporaryDirectory(prefix="pdva-bench-results-") as tmp:
        results = Path(tmp) / "results.json"
        env = {**os.environ, RESULTS_ENV: str(results), "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, str(path), *(["--quick"] if quick else [])]
        try:
            proc = subprocess.run(argv, env=env, timeout=timeout, check=False)
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
        if not results.exists():
            why = "timed out" if returncode == -1 else f"exited {returncode} without a report"
            return Report(path.stem, error=why)
        report = Report.from_json(json.loads(results.read_text(encoding="utf-8")))
        if returncode not in (0, 1) and not report.error:
            report.error = f"exited {returncode}"
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("only", nargs="*", help="benchmark names (bench_ingest or ingest); default all")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per benchmark")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("BENCH_QUICK") == "1"
    wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
    paths = [p for p in sorted(HERE.glob("bench_*.py")) if not wanted or p.stem in wanted]
    unknown = wanted - {p.stem for p in paths}
    if unknown:
        parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")

    reports: list[Report] = []
    for path in paths:
        print(f"\n===== {path.stem}{' (quick)' if quick else ''} =====", flush=True)
        started = time.perf_counter()
        reports.append(run_one(path, quick=quick, timeout=args.timeout))
        print(f"({path.stem} took {time.perf_counter() - started:.1f}s)", flush=True)

    targets: list[Target] = [t for r in reports for t in r.targets]
    benches = [r.bench for r in reports for _ in r.targets]
    print("\n===== all targets =====")
    print(format_targets(targets, benches) if targets else "(no targets recorded)")
    failed = [r for r in reports if r.error]
    for r in failed:
        print(f"{r.bench} FAILED: {r.error}")
    n_miss = len(missed(targets))
    print(
        f"bench: {len(targets) - n_miss} passed, {n_miss} failed"
        + (f"; {len(failed)} benchmark(s) did not finish" if failed else "")
    )
    return 1 if n_miss or failed else 0


if __name__ == "__main__":
    sys.exit(main())
