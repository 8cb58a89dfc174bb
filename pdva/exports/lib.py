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


HMAC_BLOCK = 64  # SHA-256 block size in bytes


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104), so a database can compute the same HMAC
    as ``sha256(outer || sha256(inner || message))`` with nothing but its built-in sha256()."""
    if len(key) > HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class Pseudonymiser:
    """Per-export pseudonyms: HMAC-SHA256 of "kind:internal id" under a random key that is never stored,
    so pseudonyms are stable within one export and cannot be linked across exports or back to the registry.

    The first ``length`` hex digits are kept. The same function runs in SQL for the PostgreSQL fast path
    (see pdva.exports.research_sql), so both paths give the same pseudonyms for the same key."""

    def __init__(self, key: bytes, *, length: int = 16) -> None:
        if len(key) < 16:
            raise ValueError("pseudonym key must be at least 16 bytes")
        if not 8 <= length <= 64:
            raise ValueError("pseudonym length must be 8 to 64 hex digits")
        self.key = key
        self.length = length
        self._memo: dict[tuple[str, object], str] = {}

    def __call__(self, kind: str, value: object) -> str | None:
        if value is None:
            return None
        memo_key = (kind, value)
        found = self._memo.get(memo_key)
        if found is None:
            found = hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[: self.length]
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
        self.rows: int | None = None  # set by writers that know how many rows they wrote

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


# --- spreadsheet-safe cells (OWASP CSV injection) --------------------------------------------------
# A spreadsheet evaluates a cell that starts with one of these as a formula. The OWASP rule prefixes such a
# cell with a single quote. A cell that already starts with a quote gets one too, so the rule is reversible:
# every cell written with a leading quote had exactly one added, and ``restore_cell`` takes exactly that off.
FORMULA_STARTS = frozenset("=+-@\t\r")
QUOTE = "'"
_QUOTED_STARTS = FORMULA_STARTS | {QUOTE}
# Column types whose cells are text a person (or a code list) wrote: the ones a spreadsheet could evaluate.
# Numbers, days, dates, booleans and JSON are left exactly as they are (a negative number stays -1.5).
TEXT_CELL_TYPES = frozenset({"string", "text", "code", "reference"})


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet would evaluate, made inert by a leading single quote; anything else as is."""
    if type(value) is str and value and value[0] in _QUOTED_STARTS:
        return QUOTE + value
    return value


def restore_cell(text: str) -> str:
    """The cell's text before ``neutralise_cell`` (the inverse on everything it writes)."""
    if len(text) > 1 and text[0] == QUOTE and text[1] in _QUOTED_STARTS:
        return text[1:]
    return text


def neutralise_row(row: Iterable[object]) -> list[object]:
    """Every text cell of a row of free-form report or dictionary text, neutralised."""
    return [neutralise_cell(v) for v in row]
