"""WIfI (Wound, Ischaemia, foot Infection) grading and clinical stage."""

from __future__ import annotations

from dataclasses import dataclass

from pdva.reference.tables import load_table

GRADES = (0, 1, 2, 3)


@dataclass(frozen=True)
class StageResult:
    stage: int
    status: str  # verification status of the cell: verified_secondary, corrected, disputed
    table_version: str
    note: str = ""

    @property
    def disputed(self) -> bool:
        return self.status == "disputed"


def wifi_stage(w: int, i: int, fi: int, *, version: str | None = None) -> StageResult:
    """Clinical stage 1-4 for grades W, I, fI (each 0-3). Stage 5 is a clinician flag, not a lookup."""
    for name, grade in (("W", w), ("I", i), ("fI", fi)):
        if grade not in GRADES:
            raise ValueError(f"WIfI {name} grade must be 0-3, got {grade!r}")
    table = load_table("wifi_clinical_stage", version)
    for cell in table.cells:
        if cell["w"] == w and cell["i"] == i and cell["fi"] == fi:
            return StageResult(cell["stage"], cell["status"], table.version, cell.get("note", ""))
    raise LookupError(f"WIfI table {table.version} has no cell W{w} I{i} fI{fi}")


# Ischaemia grade thresholds (Mills 2014; wifi_glass_verified.md). Each tuple: (grade, test).
# The published ankle-pressure bands overlap at 70 mmHg (70-100 vs 50-70): we put 70 in grade 1,
# reading "50-70" as 50 to <70, so a pressure maps to exactly one grade.
def ischaemia_grade_from_abi(abi: float) -> int:
    if abi >= 0.80:
        return 0
    if abi >= 0.60:
        return 1
    if abi >= 0.40:
        return 2
    return 3


def ischaemia_grade_from_ankle_pressure(mmhg: float) -> int:
    if mmhg > 100:
        return 0
    if mmhg >= 70:
        return 1
    if mmhg >= 50:
        return 2
    return 3


def ischaemia_grade_from_toe_pressure(mmhg: float) -> int:
    """Toe pressure or TcPO2 (same bands)."""
    if mmhg >= 60:
        return 0
    if mmhg >= 40:
        return 1
    if mmhg >= 30:
        return 2
    return 3
