"""The registry's date and range rules, defined once. The models apply them (field validators, and
``clean_for_save`` on every save), so the capture forms, the API and every import give the same answer.

Pure: no database access; the callers pass the values (an import passes the date of birth it decrypted
once per patient)."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

from django.core.validators import MinValueValidator

NEGATIVE_MESSAGE = "must not be negative"

# Measurements that cannot be below zero (areas, lengths, times, doses, laboratory values), by model. The
# integer ones are PositiveIntegerFields already; these are the decimals.
NOT_NEGATIVE: dict[str, tuple[str, ...]] = {
    "procedure": (
        "stent_graft_min_diameter_mm",
        "stent_graft_max_diameter_mm",
        "fluoroscopy_time_min",
        "dose_area_product_gycm2",
    ),
    "baseline": ("abi", "largest_wound_area_cm2", "albumin_g_l", "haemoglobin_g_l", "wcc", "bmi"),
    "followupvisit": ("wound_area_total_cm2", "duplex_psv_ratio"),
    "medication": ("dose",),
}


def not_negative() -> list[MinValueValidator]:
    """The validators of a measurement that cannot be negative (forms and imports run field validators)."""
    return [MinValueValidator(0, message=f"Ensure this value is not negative ({NEGATIVE_MESSAGE}).")]


def _number(value: Any) -> decimal.Decimal | None:
    """A measurement as a number: a value not yet converted from text (bulk writes assign "1.5") counts by
    what it says; one that is not a number is left to the field's own validation."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return decimal.Decimal(str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        return None


def negative_values(model_name: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Field -> error for every measurement of ``model_name`` in ``values`` that is below zero."""
    errors = {}
    for name in NOT_NEGATIVE.get(model_name, ()):
        value = _number(values.get(name))
        if value is not None and value < 0:
            errors[name] = f"{name.replace('_', ' ')} {NEGATIVE_MESSAGE}"
    return errors


def death_before_birth(date_of_death: dt.date | None, date_of_birth: dt.date | None) -> str | None:
    """The error when a death is dated before the patient's birth (None when either date is unknown)."""
    if date_of_death is not None and date_of_birth is not None and date_of_death < date_of_birth:
        return f"date of death is before the patient's date of birth ({date_of_birth:%d %b %Y})"
    return None


def birth_after_death(date_of_birth: dt.date | None, date_of_death: dt.date | None) -> str | None:
    """The same rule seen from the identity: a date of birth after the recorded death."""
    if death_before_birth(date_of_death, date_of_birth) is None:
        return None
    assert date_of_death is not None
    return f"date of birth is after the patient's death ({date_of_death:%d %b %Y})"
