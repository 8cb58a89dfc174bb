"""Helpers: PDF -> text (pdftotext) and PNG pages (pdftoppm -r 50)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pngs(path: Path) -> list[Path]:
    prefix = path.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(path), str(prefix)], check=True)
    return sorted(path.parent.glob(prefix.name + "-*.png"))
