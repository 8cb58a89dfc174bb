"""A small progress line for long-running commands."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, stream: TextIO | None = None, every: float = 0.5) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.every = every
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        pct = 100 * done / total if total else 100
        end = "\n" if done >= total else "\r"
        self.stream.write(f"{self.label}: {done}/{total} ({pct:.0f}%) {now - self.started:.1f}s{end}")
        self.stream.flush()
