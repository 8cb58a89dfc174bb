"""The GLASS stage matrix, cell by cell (GVG 2019, wifi_glass_verified.md §2)."""

import pytest

from pdva.reference.glass import glass_stage, segment_grade

MATRIX = {  # FP row -> stages for IP0..IP4
    4: ["III", "III", "III", "III", "III"],
    3: ["II", "II", "II", "III", "III"],
    2: ["I", "II", "II", "II", "III"],
    1: ["I", "I", "II", "II", "III"],
    0: [None, "I", "I", "II", "III"],
}
CELLS = [(fp, ip) for fp in range(5) for ip in range(5)]


@pytest.mark.parametrize(("fp", "ip"), CELLS, ids=[f"FP{fp}-IP{ip}" for fp, ip in CELLS])
def test_every_cell(fp, ip):
    assert glass_stage(fp, ip).stage == MATRIX[fp][ip]


def test_fp4_and_ip4_are_stage_three_whatever_the_other_grade():
    assert {glass_stage(4, ip).stage for ip in range(5)} == {"III"}
    assert {glass_stage(fp, 4).stage for fp in range(5)} == {"III"}


def test_severe_calcification_raises_a_segment_grade_by_one_capped_at_four():
    assert segment_grade(2, severe_calcification=True) == 3
    assert segment_grade(4, severe_calcification=True) == 4
    assert segment_grade(2) == 2


@pytest.mark.parametrize("bad", [-1, 5])
def test_bad_grades_rejected(bad):
    with pytest.raises(ValueError, match="0-4"):
        glass_stage(bad, 0)
