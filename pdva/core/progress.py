"""A small progress line for long-running commands: done/total, rate and time left.

``Progress(label)`` is a callable ``(done, total)``, so services take any such callable and commands pass
one of these. A caller that also writes records (seed: patients, each with many audited records) passes
``records=`` too and the line shows their rate as well.

On a terminal the line is redrawn in place; into a log (CI, a scheduler) it writes a full line now and
then instead of thousands of carriage returns.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TextIO

RATE_WINDOW = 30.0  # seconds of recent progress the rate (and so the time left) is measured over


def duration(seconds: float) -> str:
    """3s, 4m05s, 1h02m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        every: float | None = None,
        *,
        unit: str = "",
        records_unit: str = "records",
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every if every is not None else (0.5 if self.interactive else 10.0)
        self.unit = f" {unit}" if unit else ""
        self.records_unit = records_unit
        self.started = time.monotonic()
        self.last = self.started
        self.samples: deque[tuple[float, int, int]] = deque([(self.started, 0, 0)])

    def __call__(self, done: int, total: int, records: int | None = None) -> None:
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self.last < self.every:
            self._sample(now, done, records)
            return
        self.last = now
        self._sample(now, done, records)
        self.stream.write(
            self.line(now, done, total, records) + ("\n" if finished or not self.interactive else "\r")
        )
        self.stream.flush()

    def _sample(self, now: float, done: int, records: int | None) -> None:
        self.samples.append((now, done, records or 0))
        while len(self.samples) > 2 and now - self.samples[1][0] > RATE_WINDOW:
            self.samples.popleft()

    def line(self, now: float, done: int, total: int, records: int | None = None) -> str:
        elapsed = now - self.started
        pct = 100 * done / total if total else 100
        head = f"{self.label}: {done:,}/{total:,}{self.unit} ({pct:.0f}%)"
        if done >= total:
            rate = done / elapsed if elapsed > 0 else 0.0
            text = f"{head} in {duration(elapsed)}, {rate:,.1f}{self.unit}/s"
            if records is not None:
                text += (
                    f", {records:,} {self.records_unit} ({records / elapsed if elapsed > 0 else 0:,.0f}/s)"
                )
            return text
        then, done_then, records_then = self.samples[0]
        span = now - then
        rate = (done - done_then) / span if span > 0 else 0.0
        text = f"{head} {rate:,.1f}{self.unit}/s"
        if records is not None:
            text += f", {(records - records_then) / span if span > 0 else 0:,.0f} {self.records_unit}/s"
        eta = f"{duration((total - done) / rate)} left" if rate > 0 else "time left unknown"
        return f"{text}, {duration(elapsed)} elapsed, {eta}"
