"""`make bench`: run every bench/bench_*.py in one process and print each one's report.

Each benchmark measures its own baseline in the same run and prints ratios against it, so results are
comparable across machines. BENCH_QUICK=1 runs the small sizes only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1" or "--quick" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    failures = 0
    for path in sorted(HERE.glob("bench_*.py")):
        if only and path.stem not in only:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"\n===== {path.stem} =====", flush=True)
        started = time.perf_counter()
        try:
            module.main(quick=quick)
        except Exception as exc:  # report and go on: one broken benchmark should not hide the others
            failures += 1
            print(f"{path.stem} FAILED: {exc!r}", flush=True)
        print(f"({path.stem} took {time.perf_counter() - started:.1f}s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
