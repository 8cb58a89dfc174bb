"""Loader for the project's validation data (tests/data/validation; sources in its README.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

VALIDATION = Path(__file__).resolve().parent.parent / "data" / "validation"


def load(name: str) -> pd.DataFrame:
    # the PHE files carry a UTF-8 byte-order mark
    return pd.read_csv(VALIDATION / name, encoding="utf-8-sig")
