"""EQ-5D index values through pluggable, versioned value sets. Pure Python: no Django.

A value set turns a 5-digit profile (MO SC UA PD AD) into an index. Some need the respondent's age and
sex (the NICE DSU mapping). Every score is reported with the value set's id and data version, so an
index can always be traced to the table that produced it. Tables live in ``pdva/proms/data/eq5d``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "eq5d"
DATA_VERSION = "fragla-eq5d@bfdc7ca"
DIMENSIONS = ("MO", "SC", "UA", "PD", "AD")
DSU_AGE_BANDS = ((18, 34, "18-34"), (35, 44, "35-44"), (45, 54, "45-54"), (55, 64, "55-64"), (65, 200, "65+"))

# NICE's current reference case: map 5L responses to the UK 3L value set with the DSU mapping.
PRIMARY_VALUE_SET = "dsu_5l_to_3l_2022"


class NotScorable(ValueError):
    """The responses (or the respondent's age/sex) cannot be scored with this value set."""


@dataclass(frozen=True)
class ValueSetInfo:
    id: str
    label: str
    levels: int  # 3 for 3L profiles, 5 for 5L
    needs_age_sex: bool
    reference: str

    @property
    def method(self) -> str:
        """What is stored with each score: value set id and data version."""
        return f"{self.id}@{DATA_VERSION}"


@dataclass(frozen=True)
class ValueSet:
    info: ValueSetInfo
    scorer: Callable[[str, int | None, str | None], float]

    def index(self, profile: str, *, age: int | None = None, sex: str | None = None) -> float:
        check_profile(profile, self.info.levels)
        return self.scorer(profile, age, sex)


def check_profile(profile: str, levels: int) -> None:
    if len(profile) != 5 or any(ch not in "123456789"[:levels] for ch in profile):
        raise NotScorable(f"{profile!r} is not a 5-digit profile with levels 1-{levels}")


def profile_of(responses: Mapping[str, object]) -> str:
    """The 5-digit profile of complete EQ-5D-5L responses (item code -> level)."""
    missing = [d for d in DIMENSIONS if responses.get(d) is None]
    if missing:
        raise NotScorable(f"missing dimension(s) {', '.join(missing)}")
    return "".join(str(responses[d]) for d in DIMENSIONS)


def dsu_age_band(age: int | None) -> str:
    if age is None:
        raise NotScorable("the DSU mapping needs the respondent's age")
    for low, high, band in DSU_AGE_BANDS:
        if low <= age <= high:
            return band
    raise NotScorable(f"the DSU mapping covers ages 18 and over (age {age})")


def _column(path: Path, column: str) -> dict[str, float]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    i = header.index(column)
    return {row[0]: float(row[i]) for row in rows[1:] if row[i] not in ("", "NA")}


@cache
def _coefficients(filename: str, column: str) -> dict[str, float]:
    return _column(DATA / filename, column)


@cache
def _crosswalk() -> dict[str, float]:
    return _column(DATA / "CW.csv", "UK")


@cache
def _dsu() -> dict[tuple[str, str, str], float]:
    with (DATA / "DSU5L_UKCopula.csv").open(newline="") as f:
        return {(r["State"], r["Age"], r["Sex"]): float(r["UKCopula"]) for r in csv.DictReader(f)}


def _additive_5l(column: str) -> Callable[[str, int | None, str | None], float]:
    def score(profile: str, age: int | None, sex: str | None) -> float:
        c = _coefficients("VT.csv", column)
        total = c.get("StartValue", 1.0)
        for dim, level in zip(DIMENSIONS, profile, strict=True):
            total += c.get(f"{dim}{level}", 0.0)
        return round(total, 6)

    return score


def _dolan_3l(profile: str, age: int | None, sex: str | None) -> float:
    c = _coefficients("TTO.csv", "UK")
    if profile == "11111":
        return 1.0
    total = c["FullHealth"] + c["AtLeastOne2Or3"]
    if "3" in profile:
        total += c["AtLeastOne3"]
    for dim, level in zip(DIMENSIONS, profile, strict=True):
        if level != "1":
            total += c[f"{dim}{level}"]
    return round(total, 6)


def _crosswalk_score(profile: str, age: int | None, sex: str | None) -> float:
    return _crosswalk()[profile]


def _dsu_score(profile: str, age: int | None, sex: str | None) -> float:
    if sex not in ("male", "female"):
        raise NotScorable("the DSU mapping needs sex recorded as male or female")
    return _dsu()[(profile, dsu_age_band(age), sex)]


VALUE_SETS: dict[str, ValueSet] = {
    vs.info.id: vs
    for vs in (
        ValueSet(
            ValueSetInfo(
                "dsu_5l_to_3l_2022",
                "NICE DSU 5L to 3L mapping (Hernandez Alava et al. 2023), UK 3L",
                5,
                True,
                "doi:10.1007/s40273-022-01218-7",
            ),
            _dsu_score,
        ),
        ValueSet(
            ValueSetInfo(
                "vanhout_crosswalk_uk_2012",
                "van Hout 2012 crosswalk, UK 3L",
                5,
                False,
                "doi:10.1016/j.jval.2012.02.008",
            ),
            _crosswalk_score,
        ),
        ValueSet(
            ValueSetInfo(
                "england_5l_devlin_2018",
                "England 5L value set (Devlin 2018)",
                5,
                False,
                "doi:10.1002/hec.3564",
            ),
            _additive_5l("England"),
        ),
        ValueSet(
            ValueSetInfo(
                "uk_5l_rowen_2026", "UK 5L value set (Rowen 2026)", 5, False, "doi:10.1016/j.jval.2026.03.008"
            ),
            _additive_5l("UK"),
        ),
        ValueSet(
            ValueSetInfo(
                "uk_3l_dolan_1997",
                "UK 3L value set (Dolan 1997; 3L profiles only)",
                3,
                False,
                "doi:10.1097/00005650-199711000-00002",
            ),
            _dolan_3l,
        ),
    )
}

FIVE_LEVEL_SETS = tuple(k for k, v in VALUE_SETS.items() if v.info.levels == 5)


def index(value_set: str, profile: str, *, age: int | None = None, sex: str | None = None) -> float:
    try:
        vs = VALUE_SETS[value_set]
    except KeyError:
        raise NotScorable(f"unknown value set {value_set!r}; known: {sorted(VALUE_SETS)}") from None
    return vs.index(profile, age=age, sex=sex)
