"""Item wording: a site's licensed labels if loaded, else clearly marked placeholders (codes only)."""

from __future__ import annotations

from dataclasses import dataclass

from pdva.proms.models import InstrumentLabelSet
from pdva.registry.instruments import ITEMS

INSTRUMENT_NAMES = {"eq5d5l": "EQ-5D-5L", "vascuqol6": "VascuQoL-6", "pain_nrs": "Pain rating (0-10)"}


@dataclass(frozen=True)
class Item:
    code: str
    text: str
    levels: list[tuple[int, str]]
    scale: bool  # a 0-100 scale entered as a number rather than chosen from options


@dataclass(frozen=True)
class Questionnaire:
    instrument: str
    name: str
    items: list[Item]
    placeholder: bool
    licence_reference: str


def label_set(instrument: str, site_id: int | None) -> InstrumentLabelSet | None:
    """The site's own licensed labels, else registry-wide ones, else None (placeholders)."""
    qs = InstrumentLabelSet.objects.alive().filter(instrument=instrument, active=True)
    own = qs.filter(site_id=site_id).order_by("-created_at").first() if site_id else None
    return own or qs.filter(site__isnull=True).order_by("-created_at").first()


def questionnaire(instrument: str, site_id: int | None) -> Questionnaire:
    spec = ITEMS[instrument]
    loaded = label_set(instrument, site_id)
    items = []
    for code, levels in spec.items():
        scale = len(levels) > 11
        if loaded is not None:
            entry = loaded.labels.get(code, {})
            text = entry.get("text", code)
            names = entry.get("levels", {})
        else:
            text = f"[Placeholder wording] {INSTRUMENT_NAMES[instrument]} item {code}"
            names = {}
        options = [] if scale else [(n, names.get(str(n), f"Level {n}")) for n in levels]
        items.append(Item(code, text, options, scale))
    return Questionnaire(
        instrument,
        INSTRUMENT_NAMES[instrument],
        items,
        placeholder=loaded is None,
        licence_reference=loaded.licence_reference if loaded else "",
    )
