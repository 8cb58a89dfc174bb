"""The coded device list (reference table ``device``): what a de-identified export may say about the device,
where the free-entry manufacturer and model may not."""

from __future__ import annotations

from pdva.reference.tables import LookupTable, load_table


def device_table(version: str | None = None) -> LookupTable:
    return load_table("device", version)


def device_choices(version: str | None = None) -> list[tuple[str, str]]:
    """(code, label) of every device in the table version (the current one by default)."""
    return [(cell["code"], cell["label"]) for cell in device_table(version).cells]


def devices_for_technique(technique_family: str, version: str | None = None) -> list[str]:
    """Codes of the devices used with a technique family (plus the generic ones any technique may use)."""
    return [c["code"] for c in device_table(version).cells if c["kind"] in (technique_family, "")]
