"""Input validation shared by the estimators.

Every public function converts its inputs here so that bad data fails early with a message that names the
argument and says what is wrong (rather than producing NaN estimates further down).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_SHOW = 5  # how many offending positions to list in a message


def _positions(mask: NDArray[np.bool_]) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:_SHOW])
    more = f" and {idx.size - _SHOW} more" if idx.size > _SHOW else ""
    return f"{idx.size} value(s), at positions {shown}{more}"


def as_1d(x: Any, name: str, *, allow_empty: bool = False) -> NDArray[Any]:
    """Return ``x`` as a 1-D numpy array (no copy when possible), rejecting other shapes."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: at least one observation is needed")
    return arr


def as_float(x: Any, name: str, *, allow_empty: bool = False) -> FloatArray:
    """1-D float64 array with finite values only."""
    arr = as_1d(x, name, allow_empty=allow_empty)
    if arr.dtype == object:
        # e.g. pandas nullable columns (Int64, boolean) with <NA>: infer, then map missing to NaN
        inferred = pd.array(arr)
        if inferred.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got values of type {inferred.dtype}")
        arr = inferred.to_numpy(dtype=np.float64, na_value=np.nan)
    elif arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    out = np.asarray(arr, dtype=np.float64)
    # min/max propagate NaN and expose ±inf without allocating masks; locate problems only on failure
    if out.size and not np.isfinite(out.min() + out.max()):
        nan = np.isnan(out)
        if nan.any():
            raise ValueError(f"{name} contains missing (NaN) values: {_positions(nan)}")
        raise ValueError(f"{name} contains infinite values: {_positions(~np.isfinite(out))}")
    return out


def as_times(x: Any, name: str = "time") -> FloatArray:
    """Finite, non-negative follow-up times."""
    out = as_float(x, name)
    if out.min() < 0:
        raise ValueError(f"{name} contains negative values: {_positions(out < 0)}")
    return out


def _small_ints(arr: NDArray[Any], lo: int, hi: int) -> bool:
    """Integer-typed array whose values all lie in [lo, hi] (checked with two reductions)."""
    return arr.dtype.kind in "iu" and arr.size > 0 and lo <= int(arr.min()) and int(arr.max()) <= hi


def as_event(x: Any, name: str = "event") -> NDArray[np.int8]:
    """0/1 (or boolean) event indicator as int8."""
    arr = as_1d(x, name)
    if arr.dtype == np.bool_ or _small_ints(arr, 0, 1):
        return arr.astype(np.int8)
    vals = as_float(arr, name)
    bad = (vals != 0) & (vals != 1)
    if bad.any():
        raise ValueError(
            f"{name} must be 0 (censored) or 1 (event); found other codes "
            f"{sorted(set(np.unique(vals[bad]).tolist()))[:_SHOW]} in {_positions(bad)}"
        )
    return vals.astype(np.int8)


def as_cause(x: Any, name: str = "cause", *, n_causes: int | None = None) -> IntArray:
    """Integer cause codes: 0 = censored, 1..K = causes."""
    arr = as_1d(x, name)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if _small_ints(arr, 0, n_causes if n_causes is not None else np.iinfo(np.int64).max):
        return arr.astype(np.int64, copy=False)
    vals = as_float(arr, name)
    bad = (vals != np.round(vals)) | (vals < 0)
    if n_causes is not None:
        bad |= vals > n_causes
    if bad.any():
        allowed = "0 (censored) or 1.." + (str(n_causes) if n_causes is not None else "K")
        raise ValueError(
            f"{name} codes must be integers {allowed}; found "
            f"{sorted(set(np.unique(vals[bad]).tolist()))[:_SHOW]} in {_positions(bad)}"
        )
    return vals.astype(np.int64)


def same_length(**arrays: NDArray[Any] | None) -> int:
    """Check all given arrays share one length and return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"inputs have different lengths: {desc}")
    return next(iter(lengths.values()))


def conf_z(conf_level: float, *, two_sided: bool = True) -> float:
    """Normal quantile for a confidence level in (0, 1)."""
    if not isinstance(conf_level, int | float) or not 0.0 < float(conf_level) < 1.0:
        raise ValueError(f"conf_level must be a number strictly between 0 and 1, got {conf_level!r}")
    tail = (1.0 - conf_level) / 2.0 if two_sided else 1.0 - conf_level
    return _norm_isf(float(tail))


@lru_cache(maxsize=64)
def _norm_isf(tail: float) -> float:
    # scipy.stats calls cost ~0.1 ms each; the few levels in use are cached
    from scipy.stats import norm

    return float(norm.isf(tail))


def choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value
