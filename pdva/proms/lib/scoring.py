"""Scores of the registry's PROM instruments from raw responses. Pure Python: no Django.

Each score carries the rule that produced it and whether that rule is verified against a primary source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pdva.proms.lib import eq5d

VQ6_ITEMS = tuple(f"VQ{i}" for i in range(1, 7))

# research/prom_scoring_verified.md section 7: 4 options scored 1-4 and a total of 6-24 (higher = better)
# are NOT verified against the licensed form. Shown as unverified wherever the total appears.
VQ6_RULE = "vq6_sum_6_24@unverified"  # rule id @ verification state (no published source checked)
VQ6_VERIFIED = False
VQ6_NOTE = "Unverified scoring rule: sum of six items scored 1-4 (6-24, higher = better); confirm against the licensed form."


@dataclass(frozen=True)
class Score:
    measure: str  # eq5d_index, eq5d_vas, vq6_total, pain_nrs
    method: str  # value set id or rule id, with data version
    value: float | None
    verified: bool = True
    note: str = ""


def score_eq5d5l(
    responses: Mapping[str, object],
    *,
    age: int | None,
    sex: str | None,
    value_sets: tuple[str, ...] | None = None,
) -> list[Score]:
    scores: list[Score] = []
    try:
        profile = eq5d.profile_of(responses)
    except eq5d.NotScorable as exc:
        profile, reason = None, str(exc)
    for vs_id in value_sets or eq5d.FIVE_LEVEL_SETS:
        info = eq5d.VALUE_SETS[vs_id].info
        if profile is None:
            scores.append(Score("eq5d_index", info.method, None, True, reason))
            continue
        try:
            scores.append(Score("eq5d_index", info.method, eq5d.index(vs_id, profile, age=age, sex=sex)))
        except eq5d.NotScorable as exc:
            scores.append(Score("eq5d_index", info.method, None, True, str(exc)))
    vas = responses.get("VAS")
    scores.append(Score("eq5d_vas", "eq5d_vas_0_100", float(vas) if isinstance(vas, int) else None))
    return scores


def score_vascuqol6(responses: Mapping[str, object]) -> list[Score]:
    values = [responses.get(item) for item in VQ6_ITEMS]
    total = float(sum(values)) if all(isinstance(v, int) for v in values) else None  # type: ignore[arg-type]
    note = VQ6_NOTE if total is not None else VQ6_NOTE + " Not scored: every item is needed."
    return [Score("vq6_total", VQ6_RULE, total, VQ6_VERIFIED, note)]


def score_pain_nrs(responses: Mapping[str, object]) -> list[Score]:
    value = responses.get("NRS")
    return [Score("pain_nrs", "nrs_0_10", float(value) if isinstance(value, int) else None)]


def score(
    instrument: str, responses: Mapping[str, object], *, age: int | None = None, sex: str | None = None
) -> list[Score]:
    if instrument == "eq5d5l":
        return score_eq5d5l(responses, age=age, sex=sex)
    if instrument == "vascuqol6":
        return score_vascuqol6(responses)
    if instrument == "pain_nrs":
        return score_pain_nrs(responses)
    raise ValueError(f"unknown instrument {instrument!r}")


PRIMARY_MEASURE = {"eq5d5l": "eq5d_index", "vascuqol6": "vq6_total", "pain_nrs": "pain_nrs"}


def primary(instrument: str, scores: list[Score]) -> Score | None:
    """The score stored on the administration itself (EQ-5D: the primary value set's index)."""
    measure = PRIMARY_MEASURE[instrument]
    for s in scores:
        if s.measure != measure:
            continue
        if measure == "eq5d_index" and not s.method.startswith(eq5d.PRIMARY_VALUE_SET + "@"):
            continue
        return s
    return None
