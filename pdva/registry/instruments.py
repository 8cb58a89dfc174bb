"""Item codes and allowed levels of each PROM instrument (codes only: item wording is licensed).

Validation of raw responses lives here; scoring lives in pdva.proms.
"""

from __future__ import annotations

from typing import Any

ITEMS: dict[str, dict[str, range]] = {
    "eq5d5l": {
        "MO": range(1, 6),
        "SC": range(1, 6),
        "UA": range(1, 6),
        "PD": range(1, 6),
        "AD": range(1, 6),
        "VAS": range(0, 101),
    },
    "vascuqol6": {f"VQ{i}": range(1, 5) for i in range(1, 7)},
    "pain_nrs": {"NRS": range(0, 11)},
}


def validate_responses(instrument: str, responses: Any, *, complete: bool) -> list[str]:
    """Return a list of problems (empty when the responses are valid for the instrument)."""
    if instrument not in ITEMS:
        return [f"unknown instrument {instrument!r}"]
    if not isinstance(responses, dict):
        return ["responses must be a mapping of item code to level"]
    spec = ITEMS[instrument]
    problems = []
    for code, value in responses.items():
        if code not in spec:
            problems.append(f"{code} is not an item of {instrument}")
        elif not isinstance(value, int) or isinstance(value, bool) or value not in spec[code]:
            problems.append(f"{code} must be a whole number from {spec[code].start} to {spec[code].stop - 1}")
    if complete:
        missing = [code for code in spec if code not in responses]
        if missing:
            problems.append(f"complete administration is missing items {', '.join(missing)}")
    return problems
