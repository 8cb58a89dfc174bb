"""Treatment duration from medication episodes (pure: no Django).

Overlapping or back-to-back episodes of the same class (aspirin then clopidogrel; a switch from
rivaroxaban to apixaban) count once, so a patient's anticoagulation duration is the length of the
union of their anticoagulant episodes, not the sum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

Episode = tuple[dt.date, dt.date | None]  # (start, stop); stop None = still taking it


def covered_days(episodes: Iterable[Episode], *, as_of: dt.date, since: dt.date | None = None) -> int:
    """Days covered by the union of episodes, counted in [since, as_of).

    An episode still running is counted up to ``as_of``. Episodes that touch (one stops the day the next
    starts) are merged.
    """
    spans = []
    for start, stop in episodes:
        if stop is not None and stop < start:
            raise ValueError(f"episode stops ({stop}) before it starts ({start})")
        lo = max(start, since) if since else start
        hi = min(stop or as_of, as_of)
        if hi > lo:
            spans.append((lo, hi))
    spans.sort()
    total = 0
    current_lo: dt.date | None = None
    current_hi: dt.date | None = None
    for lo, hi in spans:
        if current_hi is None or lo > current_hi:
            if current_hi is not None and current_lo is not None:
                total += (current_hi - current_lo).days
            current_lo, current_hi = lo, hi
        else:
            current_hi = max(current_hi, hi)
    if current_hi is not None and current_lo is not None:
        total += (current_hi - current_lo).days
    return total
