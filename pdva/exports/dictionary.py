"""The data dictionary of an export, generated from the same column descriptions the writers use."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

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
    return out


def as_csv(tables: Iterable[TableColumns]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows(tables))
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
        lines.append("")
    return "\n".join(lines)
