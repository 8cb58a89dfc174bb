"""Loading versioned lookup tables shipped in ``pdva/reference/data``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"
CURRENT = {"wifi_clinical_stage": "2026.1", "glass_stage": "2026.1", "device": "2026.1"}
FILES = {"wifi_clinical_stage": "wifi_stage", "glass_stage": "glass_stage", "device": "device"}


@dataclass(frozen=True)
class LookupTable:
    name: str
    version: str
    title: str
    source: str
    verification: str
    verification_note: str
    cells: tuple[dict[str, Any], ...]
    extra: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version} ({self.verification})"


@cache
def load_table(name: str, version: str | None = None) -> LookupTable:
    if name not in FILES:
        raise KeyError(f"unknown reference table {name!r}; known: {sorted(FILES)}")
    version = version or CURRENT[name]
    path = DATA_DIR / f"{FILES[name]}_{version}.json"
    if not path.exists():
        raise KeyError(f"reference table {name!r} has no version {version!r}")
    doc = json.loads(path.read_text())
    known = {"table", "version", "title", "source", "verification", "verification_note", "cells"}
    return LookupTable(
        name=doc["table"],
        version=doc["version"],
        title=doc["title"],
        source=doc["source"],
        verification=doc["verification"],
        verification_note=doc["verification_note"],
        cells=tuple(doc["cells"]),
        extra={k: v for k, v in doc.items() if k not in known},
    )
