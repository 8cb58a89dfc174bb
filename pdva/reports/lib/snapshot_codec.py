"""Report contexts to and from JSON text, so a computed report can be stored and rendered later unchanged.

Pure: no Django, no database, and no numpy or pandas import (their scalars are recognised by type). Values
a report context holds (dates, NaN, numpy and pandas scalars) come back as the Python values the templates
expect; anything else is refused loudly rather than stored wrongly.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

TAG = "$"  # dicts with one key starting with TAG carry a typed value


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return str(value) if isinstance(value, str) else value
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalars, without importing it
        return _encode(value.item())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) else {"$float": repr(number)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.datetime):  # before date: datetime is a date
        if value.tzinfo is None:
            raise TypeError("naive datetime in a report context; store aware (UTC) datetimes")
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if _is_missing_scalar(value):
        return None
    if isinstance(value, dict):
        if any(not isinstance(k, str) for k in value):
            return {"$items": [[_encode(k), _encode(v)] for k, v in value.items()]}
        if any(k.startswith(TAG) for k in value):
            return {"$dict": {k: _encode(v) for k, v in value.items()}}
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} in a report snapshot")


def _is_missing_scalar(value: Any) -> bool:
    """pandas' NA and NaT (pandas is optional here: only its missing markers are recognised)."""
    name = type(value).__name__
    return name in ("NAType", "NaTType")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key == "$date":
            return dt.date.fromisoformat(inner)
        if key == "$datetime":
            return dt.datetime.fromisoformat(inner)
        if key == "$float":
            return float(inner)
        if key == "$decimal":
            return Decimal(inner)
        if key == "$dict":
            return {k: _decode(v) for k, v in inner.items()}
        if key == "$items":
            return {_decode(k): _decode(v) for k, v in inner}
    return {k: _decode(v) for k, v in value.items()}


def dumps(context: dict[str, Any]) -> str:
    return json.dumps(_encode(context), separators=(",", ":"), allow_nan=False)


def loads(text: str) -> dict[str, Any]:
    value = _decode(json.loads(text))
    if not isinstance(value, dict):
        raise ValueError("a report snapshot holds a mapping")
    return value
