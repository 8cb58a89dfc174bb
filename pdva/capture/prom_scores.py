"""How a PROM score reads on screen: the measure, the value, the value set or rule that produced it, and
whether that rule is verified. Pure Python (no Django): callers pass the stored score fields."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pdva.proms.lib import eq5d, scoring

MEASURES = {
    "eq5d_index": ("EQ-5D-5L index", 3),
    "eq5d_vas": ("EQ VAS", 0),
    "vq6_total": ("VascuQoL-6 total", 0),
    "pain_nrs": ("Pain NRS", 0),
}
RULES = {
    "eq5d_vas_0_100": "visual analogue scale 0-100",
    "nrs_0_10": "numeric rating scale 0-10",
    scoring.VQ6_RULE: "sum of six items scored 1-4 (6-24, higher is better)",
}
MEASURE_ORDER = list(MEASURES)


@dataclass(frozen=True)
class ScoreLine:
    measure: str
    label: str  # "EQ-5D-5L index"
    value: str  # "0.712", or "not scored"
    method: str  # the value set or rule, named
    primary: bool  # the value set the registry reports (EQ-5D) / the only rule
    verified: bool
    note: str  # why a value is missing, or why the rule is not verified

    @property
    def text(self) -> str:
        flags = [] if self.verified else ["unverified scoring rule"]
        if self.primary and self.measure == "eq5d_index":
            flags.append("primary")
        extra = f" ({'; '.join(flags)})" if flags else ""
        return f"{self.label} {self.value}: {self.method}{extra}"


def method_name(method: str) -> str:
    """'dsu_5l_to_3l_2022@fragla-eq5d@bfdc7ca' -> the value set's name and data version."""
    if method in RULES:
        return RULES[method]
    set_id, _, version = method.partition("@")
    value_set = eq5d.VALUE_SETS.get(set_id)
    if value_set is None:
        return method or "method not recorded"
    return f"{value_set.info.label} [{version}]" if version else value_set.info.label


def score_line(
    measure: str, method: str, value: Decimal | float | None, *, verified: bool = True, note: str = ""
) -> ScoreLine:
    label, places = MEASURES.get(measure, (measure.replace("_", " "), 3))
    shown = "not scored" if value is None else f"{Decimal(str(value)):.{places}f}"
    primary = measure != "eq5d_index" or method.startswith(eq5d.PRIMARY_VALUE_SET + "@")
    if measure == "vq6_total":
        verified = verified and scoring.VQ6_VERIFIED  # never shown as verified while the rule is not
    return ScoreLine(measure, label, shown, method_name(method), primary, verified, note)


def ordered(lines: list[ScoreLine]) -> list[ScoreLine]:
    """Measures in a fixed order, the primary EQ-5D value set first."""
    return sorted(
        lines,
        key=lambda s: (
            MEASURE_ORDER.index(s.measure) if s.measure in MEASURE_ORDER else 99,
            not s.primary,
            s.method,
        ),
    )
