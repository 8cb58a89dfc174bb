"""Exponential backoff between attempts of a job that failed for a transient reason."""

from __future__ import annotations


def retry_delay(attempt: int, *, base_seconds: float, cap_seconds: float = 3600.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first run): base, 2x, 4x, ... capped.

    >>> [retry_delay(n, base_seconds=30) for n in (1, 2, 3, 4)]
    [30.0, 60.0, 120.0, 240.0]
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if base_seconds < 0 or cap_seconds < 0:
        raise ValueError("backoff seconds cannot be negative")
    # 2**(attempt - 1) overflows float long after the cap is reached, so clamp the exponent first.
    return float(min(cap_seconds, base_seconds * 2 ** min(attempt - 1, 60)))
