"""EQ-5D scoring reproduces the value-set checks of ../shared/reference/eq5d/README.md and the spot checks of
research/prom_scoring_verified.md §6, and the crosswalk table agrees with the van Hout method."""

from __future__ import annotations

import itertools
import random

import pytest

from pdva.proms.lib import eq5d, scoring


def test_reference_readme_checks() -> None:
    assert eq5d.index("uk_3l_dolan_1997", "33333") == pytest.approx(-0.594, abs=5e-7)
    assert eq5d.index("england_5l_devlin_2018", "55555") == pytest.approx(-0.285, abs=5e-7)
    assert eq5d.index("uk_5l_rowen_2026", "55555") == pytest.approx(-0.567, abs=5e-7)


# Profile: (Devlin England, Rowen UK, van Hout CW, DSU M 18-34, F 18-34, M 45-54, F 45-54, M 65+, F 65+)
SPOT = {
    "11111": (1.000, 1.000, 1.000, 0.9867, 0.9845, 0.9871, 0.9854, 0.9885, 0.9879),
    "12345": (0.322, 0.114, 0.063, 0.0835, 0.0672, 0.0373, 0.0266, 0.0314, 0.0223),
    "55555": (-0.285, -0.567, -0.594, -0.5236, -0.5236, -0.5218, -0.5211, -0.5316, -0.5288),
    "21143": (0.562, 0.471, 0.456, 0.5663, 0.5509, 0.5450, 0.5206, 0.5434, 0.5203),
    "33333": (0.593, 0.604, 0.516, 0.4345, 0.4198, 0.4373, 0.4261, 0.4525, 0.4452),
}
DSU_GROUPS = [(25, "male"), (25, "female"), (50, "male"), (50, "female"), (80, "male"), (80, "female")]


@pytest.mark.parametrize("profile", sorted(SPOT))
def test_spot_checks_per_value_set(profile: str) -> None:
    devlin, rowen, cw, *dsu = SPOT[profile]
    assert round(eq5d.index("england_5l_devlin_2018", profile), 3) == pytest.approx(devlin)
    assert round(eq5d.index("uk_5l_rowen_2026", profile), 3) == pytest.approx(rowen)
    assert eq5d.index("vanhout_crosswalk_uk_2012", profile) == pytest.approx(cw)
    for (age, sex), expected in zip(DSU_GROUPS, dsu, strict=True):
        assert round(eq5d.index("dsu_5l_to_3l_2022", profile, age=age, sex=sex), 4) == pytest.approx(expected)


def test_dolan_recomputed_examples() -> None:
    for profile, expected in {"11112": 0.848, "12321": 0.329, "21123": 0.222, "22222": 0.516}.items():
        assert round(eq5d.index("uk_3l_dolan_1997", profile), 3) == pytest.approx(expected)


# van Hout 2012: P(3L level | 5L level 2 or 4), per dimension (prom_scoring_verified.md §4, 4 dp).
SPLIT = {
    "MO": ((0.1773, 0.8227), (0.9279, 0.0721)),
    "SC": ((0.1673, 0.8327), (0.7569, 0.2431)),
    "UA": ((0.1978, 0.8022), (0.6716, 0.3284)),
    "PD": ((0.1989, 0.8011), (0.6005, 0.3995)),
    "AD": ((0.2066, 0.7934), (0.5093, 0.4907)),
}


def _p3(dim: str, level5: int) -> dict[int, float]:
    two, four = SPLIT[dim]
    return {1: {1: 1.0}, 2: {1: two[0], 2: two[1]}, 3: {2: 1.0}, 4: {2: four[0], 3: four[1]}, 5: {3: 1.0}}[
        level5
    ]


def crosswalk_by_method(profile: str) -> float:
    dists = [_p3(dim, int(level)) for dim, level in zip(eq5d.DIMENSIONS, profile, strict=True)]
    total = 0.0
    for combo in itertools.product(*(d.items() for d in dists)):
        p = 1.0
        for _, prob in combo:
            p *= prob
        total += p * eq5d.index("uk_3l_dolan_1997", "".join(str(level) for level, _ in combo))
    return total


def test_sample_of_crosswalk_rows_matches_the_van_hout_method() -> None:
    profiles = ["".join(p) for p in itertools.product("12345", repeat=5)]
    sample = random.Random(20261125).sample(profiles, 120) + ["11111", "22222", "44444", "55555", "12345"]
    for profile in sample:
        # The table is rounded to 3 dp and the split probabilities above to 4 dp.
        assert eq5d.index("vanhout_crosswalk_uk_2012", profile) == pytest.approx(
            crosswalk_by_method(profile), abs=0.0015
        ), profile


def test_dsu_mapping_needs_age_and_sex() -> None:
    with pytest.raises(eq5d.NotScorable, match="age"):
        eq5d.index("dsu_5l_to_3l_2022", "11111", age=None, sex="male")
    with pytest.raises(eq5d.NotScorable, match="18 and over"):
        eq5d.index("dsu_5l_to_3l_2022", "11111", age=17, sex="male")
    with pytest.raises(eq5d.NotScorable, match="male or female"):
        eq5d.index("dsu_5l_to_3l_2022", "11111", age=70, sex="not_known")
    assert (
        eq5d.dsu_age_band(34) == "18-34"
        and eq5d.dsu_age_band(35) == "35-44"
        and eq5d.dsu_age_band(64) == "55-64"
    )
    assert eq5d.dsu_age_band(65) == "65+" and eq5d.dsu_age_band(101) == "65+"


def test_bad_profiles_are_refused() -> None:
    for bad in ("1111", "111116", "1111A", "01111"):
        with pytest.raises(eq5d.NotScorable):
            eq5d.index("england_5l_devlin_2018", bad)
    with pytest.raises(eq5d.NotScorable):
        eq5d.index("uk_3l_dolan_1997", "11114")
    with pytest.raises(eq5d.NotScorable, match="unknown value set"):
        eq5d.index("nowhere_2030", "11111")


def test_instrument_scores_record_method_and_verification() -> None:
    responses = {"MO": 2, "SC": 1, "UA": 1, "PD": 4, "AD": 3, "VAS": 60}
    scores = scoring.score("eq5d5l", responses, age=72, sex="female")
    by_method = {s.method.split("@")[0]: s for s in scores}
    assert set(by_method) == set(eq5d.FIVE_LEVEL_SETS) | {"eq5d_vas_0_100"}
    assert by_method["eq5d_vas_0_100"].value == 60
    assert all(s.method.endswith("@" + eq5d.DATA_VERSION) for s in scores if s.measure == "eq5d_index")
    main = scoring.primary("eq5d5l", scores)
    assert main is not None and main.method.startswith("dsu_5l_to_3l_2022@")
    assert main.value == pytest.approx(eq5d.index("dsu_5l_to_3l_2022", "21143", age=72, sex="female"))

    no_sex = scoring.score("eq5d5l", responses, age=72, sex="other")
    dsu = next(s for s in no_sex if s.method.startswith("dsu"))
    assert dsu.value is None and "male or female" in dsu.note
    devlin = next(s for s in no_sex if s.method.startswith("england"))
    assert devlin.value == pytest.approx(0.562)

    vq6 = scoring.score("vascuqol6", {f"VQ{i}": i % 4 + 1 for i in range(1, 7)})
    assert vq6[0].value == 2 + 3 + 4 + 1 + 2 + 3 and vq6[0].verified is False and "Unverified" in vq6[0].note
    partial = scoring.score("vascuqol6", {"VQ1": 3})
    assert partial[0].value is None
    assert scoring.score("pain_nrs", {"NRS": 7})[0].value == 7
