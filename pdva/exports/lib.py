"""Pure helpers for exports (no Django): pseudonyms, day offsets, age bands, hashing writers.

Kept free of Django so they can be tested and reasoned about on their own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from typing import IO

AGE_TOP_CODE = 90  # ages at or above this are reported as the band "90+" (top-coded to 90)


def band_age(age: int | None) -> int | None:
    """Top-code ages: anyone 90 or older is reported as 90 (the band '90 and over')."""
    if age is None:
        return None
    return min(age, AGE_TOP_CODE)


class Pseudonymiser:
    """Per-export pseudonyms: a keyed hash of (kind, internal id) under a random key that is never stored,
    so pseudonyms are stable within one export and cannot be linked across exports or back to the registry."""

    def __init__(self, key: bytes, *, length: int = 12) -> None:
        if len(key) < 16:
            raise ValueError("pseudonym key must be at least 16 bytes")
        self._key = key
        self._length = length
        self._memo: dict[tuple[str, object], str] = {}

    def __call__(self, kind: str, value: object) -> str | None:
        if value is None:
            return None
        memo_key = (kind, value)
        found = self._memo.get(memo_key)
        if found is None:
            digest = hashlib.blake2b(
                f"{kind}:{value}".encode(), key=self._key[:64], digest_size=self._length
            ).hexdigest()
            found = digest[: self._length]
            if len(self._memo) > 200_000:  # bounded memo: memory stays flat on large exports
                self._memo.clear()
            self._memo[memo_key] = found
        return found


def days_between(day: dt.date | None, index: dt.date | None) -> int | None:
    """Days from the index date (day 0) to ``day``; None when either is unknown."""
    if day is None or index is None:
        return None
    return (day - index).days


def day_column_name(field_name: str) -> str:
    """Name of the 'days from index' column that replaces a date column in research exports."""
    if field_name == "date":
        return "day"
    if field_name.startswith("date_of_"):
        return field_name[len("date_of_") :] + "_day"
    if field_name.endswith("_date"):
        return field_name[: -len("_date")] + "_day"
    return field_name + "_day"


def redcap_choices(codes: Iterable[tuple[object, str]]) -> str:
    """REDCap's 'Choices, Calculations, OR Slider Labels' cell: ``raw, label | raw, label``."""
    return " | ".join(f"{raw}, {label.replace('|', '/')}" for raw, label in codes)


def redcap_checkbox_code(code: object) -> str:
    """REDCap checkbox raw values become column suffixes (``field___code``): letters, digits, underscores."""
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(code)).lower()


class HashingWriter:
    """A binary stream wrapper that counts and hashes every byte written through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def sha256_file(path: str, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
