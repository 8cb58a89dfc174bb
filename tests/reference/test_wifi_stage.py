"""The WIfI clinical-stage lookup, cell by cell, against the verified grid (wifi_glass_verified.md)."""

import pytest

from pdva.reference.tables import load_table
from pdva.reference.wifi import (
    ischaemia_grade_from_abi,
    ischaemia_grade_from_ankle_pressure,
    ischaemia_grade_from_toe_pressure,
    wifi_stage,
)

# Rows I0..I3; within a row, W0..W3 blocks of fI0..fI3 (1 very low, 2 low, 3 moderate, 4 high).
VERIFIED = {
    0: [[1, 1, 2, 3], [1, 1, 2, 3], [2, 2, 3, 4], [3, 3, 4, 4]],
    1: [[1, 2, 3, 4], [1, 2, 3, 4], [3, 3, 4, 4], [4, 4, 4, 4]],
    2: [[2, 2, 3, 4], [2, 3, 4, 4], [3, 4, 4, 4], [4, 4, 4, 4]],
    3: [[2, 3, 3, 4], [3, 3, 4, 4], [4, 4, 4, 4], [4, 4, 4, 4]],
}
CORRECTED = {(1, 2, 0), (1, 3, 0), (1, 3, 1), (3, 2, 0)}  # (I, W, fI) cells the draft had wrong
CELLS = [(w, i, fi) for i in range(4) for w in range(4) for fi in range(4)]


@pytest.mark.parametrize(("w", "i", "fi"), CELLS, ids=[f"W{w}-I{i}-fI{fi}" for w, i, fi in CELLS])
def test_every_cell_matches_the_verified_grid(w, i, fi):
    result = wifi_stage(w, i, fi)
    assert result.stage == VERIFIED[i][w][fi]
    expected_status = (
        "disputed"
        if (i, w, fi) == (2, 0, 3)
        else "corrected"
        if (i, w, fi) in CORRECTED
        else "verified_secondary"
    )
    assert result.status == expected_status


def test_the_four_corrected_cells_have_their_corrected_values():
    assert wifi_stage(w=2, i=1, fi=0).stage == 3
    assert wifi_stage(w=3, i=1, fi=0).stage == 4
    assert wifi_stage(w=3, i=1, fi=1).stage == 4
    assert wifi_stage(w=2, i=3, fi=0).stage == 4


def test_disputed_cell_is_flagged_and_explained():
    result = wifi_stage(w=0, i=2, fi=3)
    assert result.disputed
    assert "ESC" in result.note


def test_stage_counts_match_the_research_table():
    stages = [wifi_stage(w, i, fi).stage for w, i, fi in CELLS]
    assert [stages.count(s) for s in (1, 2, 3, 4)] == [6, 10, 16, 32]


def test_no_cell_is_stage_five():
    assert all(cell["stage"] in (1, 2, 3, 4) for cell in load_table("wifi_clinical_stage").cells)


def test_table_records_version_and_verification_status():
    table = load_table("wifi_clinical_stage")
    assert table.version == "2026.1"
    assert table.verification == "partly_verified"
    assert len(table.cells) == 64


@pytest.mark.parametrize("bad", [-1, 4, None, 1.5])
def test_out_of_range_grades_are_rejected(bad):
    with pytest.raises(ValueError, match="grade must be 0-3"):
        wifi_stage(bad, 0, 0)


def test_unknown_version_is_an_error():
    with pytest.raises(KeyError, match="no version"):
        wifi_stage(0, 0, 0, version="1999.1")


@pytest.mark.parametrize(("abi", "grade"), [(0.80, 0), (0.79, 1), (0.60, 1), (0.59, 2), (0.40, 2), (0.39, 3)])
def test_abi_bands(abi, grade):
    assert ischaemia_grade_from_abi(abi) == grade


@pytest.mark.parametrize(("mmhg", "grade"), [(101, 0), (100, 1), (70, 1), (69, 2), (50, 2), (49, 3)])
def test_ankle_pressure_bands_put_70_in_grade_1(mmhg, grade):
    assert ischaemia_grade_from_ankle_pressure(mmhg) == grade


@pytest.mark.parametrize(("mmhg", "grade"), [(60, 0), (59, 1), (40, 1), (39, 2), (30, 2), (29, 3)])
def test_toe_pressure_bands(mmhg, grade):
    assert ischaemia_grade_from_toe_pressure(mmhg) == grade
