"""Parse and validate linkage CSVs (deaths; hospital episodes with OPCS-4 codes). Pure: no Django.

Validation collects every problem with its line number; the caller imports nothing if there is any.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

MAPPING_FILE = Path(__file__).resolve().parent.parent / "data" / "opcs4_linkage.json"
OPCS = re.compile(r"^[A-Z]\d{2}(\.\d{1,2})?$")
LATERALITY = {
    "left": "left",
    "l": "left",
    "right": "right",
    "r": "right",
    "bilateral": "bilateral",
    "b": "bilateral",
}
COLUMNS = {
    "deaths": (("nhs_number", "date_of_death"), ("underlying_cause_icd10",)),
    "episodes": (("nhs_number", "episode_date", "opcs_codes"), ("laterality",)),
}


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class Row:
    line: int
    nhs_raw: str
    event_date: dt.date
    values: dict[str, Any] = field(default_factory=dict)

    def signature(self) -> tuple:
        return (self.nhs_raw, self.event_date, tuple(sorted((k, str(v)) for k, v in self.values.items())))


@cache
def mapping() -> dict[str, Any]:
    return json.loads(MAPPING_FILE.read_text())


def normalise_code(code: str) -> str:
    code = code.strip().upper()
    if len(code) == 4 and "." not in code:
        code = code[:3] + "." + code[3:]  # X095 -> X09.5
    return code


def lookup(table: dict[str, Any], code: str) -> tuple[str, Any] | None:
    """Most specific match: the full code, else its 3-character category."""
    if code in table:
        return code, table[code]
    if code[:3] in table:
        return code[:3], table[code[:3]]
    return None


def parse_date(raw: str) -> dt.date | None:
    raw = raw.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def csv_rows(
    text: str, required: Sequence[str], *, expected: str
) -> tuple[list[tuple[int, dict[str, str]]], RowError | None]:
    """Non-blank CSV rows as (file line number, values by lower-cased column name, stripped), or the error
    naming missing required columns (line 1). ``expected`` describes the full column list for that message."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        return [], RowError(1, f"missing column(s) {', '.join(missing)}; expected {expected}")
    reader.fieldnames = header
    rows = []
    for number, raw in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in raw.items() if k}
        if any(values.values()):
            rows.append((number, values))
    return rows, None


def parse(kind: str, text: str, *, today: dt.date, check_nhs: Any) -> tuple[list[Row], list[RowError]]:
    """Rows and errors. ``check_nhs(raw) -> str | None`` returns an error message for a bad NHS number."""
    if kind not in COLUMNS:
        return [], [RowError(0, f"unknown linkage kind {kind!r}")]
    required, optional = COLUMNS[kind]
    data, header_error = csv_rows(text, required, expected=", ".join(required + optional))
    if header_error:
        return [], [header_error]
    rows: list[Row] = []
    errors: list[RowError] = []
    for number, raw in data:
        problems = []
        nhs_problem = check_nhs(raw["nhs_number"])
        if nhs_problem:
            problems.append(nhs_problem)
        date_col = required[1]
        day = parse_date(raw[date_col])
        if day is None:
            problems.append(f"{date_col} {raw[date_col]!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")
        elif day > today:
            problems.append(f"{date_col} {day} is in the future")
        values: dict[str, Any] = {}
        if kind == "deaths":
            cause = raw.get("underlying_cause_icd10", "").upper()
            if cause and not re.match(r"^[A-Z]\d{2}(\.?\d{1,2})?$", cause):
                problems.append(f"underlying_cause_icd10 {cause!r} is not an ICD-10 code")
            values["cause"] = cause
        else:
            codes = [normalise_code(c) for c in re.split(r"[;,\s]+", raw["opcs_codes"]) if c.strip()]
            bad = [c for c in codes if not OPCS.match(c)]
            if not codes:
                problems.append("opcs_codes is empty")
            if bad:
                problems.append(f"not OPCS-4 code(s): {', '.join(bad)}")
            side = raw.get("laterality", "").lower()
            laterality = LATERALITY.get(side) if side else None
            if side and laterality is None:
                problems.append(f"laterality {side!r} must be left, right or bilateral")
            for code in codes:
                z = mapping()["laterality"].get(code)
                if z and laterality and z != laterality:
                    problems.append(f"laterality {laterality} contradicts {code} ({z})")
                laterality = laterality or z
            values["codes"] = [c for c in codes if c not in mapping()["laterality"]]
            values["laterality"] = laterality or ""
        if problems:
            errors.extend(RowError(number, p) for p in problems)
        else:
            rows.append(Row(number, raw["nhs_number"], day, values))  # type: ignore[arg-type]
    if not rows and not errors:
        errors.append(RowError(1, "the file has no data rows"))
    return rows, errors


@dataclass(frozen=True)
class EpisodeEvent:
    kind: str  # amputation, reintervention, noted, none
    code: str
    detail: Any


def episode_events(codes: list[str]) -> list[EpisodeEvent]:
    """What an episode's OPCS-4 codes propose: amputations, reinterventions (one per modality set), notes."""
    m = mapping()
    events: list[EpisodeEvent] = []
    modalities: list[str] = []
    reint_codes: list[str] = []
    for code in codes:
        if hit := lookup(m["amputation"], code):
            events.append(EpisodeEvent("amputation", code, hit[1]))
        elif hit := lookup(m["reintervention"], code):
            reint_codes.append(code)
            modalities.extend(x for x in hit[1] if x not in modalities)
        elif hit := lookup(m["noted"], code):
            events.append(EpisodeEvent("noted", code, hit[1]))
    if reint_codes:
        events.append(
            EpisodeEvent("reintervention", reint_codes[0], {"modalities": modalities, "codes": reint_codes})
        )
    return events
