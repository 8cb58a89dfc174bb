"""GLASS (Global Limb Anatomic Staging System) infrainguinal stage."""

from __future__ import annotations

from dataclasses import dataclass

from pdva.reference.tables import load_table

IM_MODIFIERS = ("P0", "P1", "P2")


@dataclass(frozen=True)
class GlassResult:
    stage: str | None  # "I", "II", "III"; None where FP0 + IP0 (no infrainguinal disease to stage)
    status: str
    table_version: str


def segment_grade(grade: int, *, severe_calcification: bool = False) -> int:
    """Severe calcification raises the segment grade by one (GVG Table 5.1), capped at 4."""
    if grade not in range(5):
        raise ValueError(f"GLASS segment grade must be 0-4, got {grade!r}")
    return min(4, grade + 1) if severe_calcification else grade


def glass_stage(fp: int, ip: int, *, version: str | None = None) -> GlassResult:
    for name, grade in (("FP", fp), ("IP", ip)):
        if grade not in range(5):
            raise ValueError(f"GLASS {name} grade must be 0-4, got {grade!r}")
    table = load_table("glass_stage", version)
    for cell in table.cells:
        if cell["fp"] == fp and cell["ip"] == ip:
            return GlassResult(cell["stage"], cell["status"], table.version)
    raise LookupError(f"GLASS table {table.version} has no cell FP{fp} IP{ip}")
