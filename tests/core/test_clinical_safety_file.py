"""The clinical-safety file points at tests that exist: every `tests/...py` and `tests/...py::test_name` named in
docs/clinical-safety is a real file holding that test function, and every hazard names at least one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "clinical-safety"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def _references(text: str) -> list[tuple[str, str | None]]:
    return [(path, name or None) for path, name in REFERENCE.findall(text)]


def test_every_named_test_exists():
    named = [ref for doc in sorted(DOCS.glob("*.md")) for ref in _references(doc.read_text())]
    assert len(named) >= 30
    missing = []
    for path, name in named:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name and not re.search(rf"^def {name}\(", file.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, f"the clinical-safety file names tests that do not exist: {missing}"


def test_every_hazard_has_controls_proven_by_tests_and_a_residual_risk():
    log = (DOCS / "hazard-log.md").read_text()
    hazards = re.split(r"^### ", log, flags=re.M)[1:]
    assert len(hazards) >= 10
    for hazard in hazards:
        title = hazard.splitlines()[0]
        for part in ("**Cause:**", "**Effect:**", "**Initial risk:**", "**Controls:**", "**Residual risk:**"):
            assert part in hazard, f"{title}: no {part}"
        assert _references(hazard), f"{title}: no control names a test"


def test_the_reference_pattern_finds_what_it_should():
    found = _references("`tests/a/test_b.py::test_c` and `tests/a/test_d.py`, not tests/e.py")
    assert found == [("tests/a/test_b.py", "test_c"), ("tests/a/test_d.py", None)]
