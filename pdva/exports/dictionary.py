"""The data dictionary of an export, generated from the same column descriptions the writers use."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from pdva.exports import lib
from pdva.exports.columns import Column, TableColumns
from pdva.registry.choices import VALUE_SET_VERSION

HEADER = [
    "table",
    "field",
    "label",
    "type",
    "units",
    "codes",
    "derivation",
    "required",
    "references",
    "source",
]


# A free-entry text field left out of a de-identified export: listed in its dictionary as withheld, not a column.
WITHHELD = "withheld"
WITHHELD_NOTE = "free-entry text: withheld from de-identified exports (not a column of this export)"


def codes_text(column: Column) -> str:
    return "; ".join(f"{code}={label}" for code, label in column.codes)


def source_text(table: TableColumns, column: Column) -> str:
    f = column.model_field
    return f"{table.spec.model._meta.label}.{f.name}" if f is not None else ""


def rows(tables: Iterable[TableColumns]) -> list[list[str]]:
    out = []
    for table in tables:
        for c in table.columns:
            out.append(
                [
                    table.spec.name,
                    c.name,
                    c.label,
                    c.type,
                    c.units,
                    codes_text(c),
                    c.derivation,
                    "yes" if c.required else "no",
                    c.references,
                    source_text(table, c),
                ]
            )
        for name, label in table.withheld:
            out.append(
                [
                    table.spec.name,
                    name,
                    label,
                    WITHHELD,
                    "",
                    "",
                    WITHHELD_NOTE,
                    "no",
                    "",
                    source_name(table, name),
                ]
            )
    return out


def source_name(table: TableColumns, name: str) -> str:
    return f"{table.spec.model._meta.label}.{name}"


def as_csv(tables: Iterable[TableColumns]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(lib.neutralise_row(row) for row in rows(tables))
    return buffer.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(tables: Iterable[TableColumns], *, title: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"Value sets version {VALUE_SET_VERSION}. Codes are stable; labels are for display.",
        "",
    ]
    for table in tables:
        lines += [f"## `{table.spec.name}`", "", table.spec.description, ""]
        lines += [
            "| field | label | type | units | codes | derivation | required |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in table.columns:
            lines.append(
                "| "
                + " | ".join(
                    _md(x)
                    for x in (
                        f"`{c.name}`",
                        c.label,
                        c.type + (f" → {c.references}" if c.references else ""),
                        c.units,
                        codes_text(c),
                        c.derivation,
                        "yes" if c.required else "no",
                    )
                )
                + " |"
            )
        if table.withheld:
            names = ", ".join(f"`{name}`" for name, _label in table.withheld)
            lines += ["", f"Withheld (free-entry text, not in this de-identified export): {names}."]
        lines.append("")
    return "\n".join(lines)
