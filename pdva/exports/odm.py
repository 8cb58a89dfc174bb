"""CDISC ODM 1.3.2 export: study metadata generated from the research dictionary, and clinical data
streamed patient by patient (de-identified: SubjectKey is the per-export patient pseudonym)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import quoteattr

from django.db.models import QuerySet
from django.utils import timezone

from pdva.exports import lib, research
from pdva.exports.columns import Column, TableColumns
from pdva.exports.stream import PATIENT_BATCH, snapshot
from pdva.registry.choices import VALUE_SET_VERSION

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
STUDY_OID = "ST.PDVA"
MDV_OID = f"MDV.PDVA.{VALUE_SET_VERSION}"
EVENT_OID = "SE.REGISTRY"


def table_oid(table: str, kind: str) -> str:
    return f"{kind}.{table.upper()}"


def item_oid(table: str, column: str) -> str:
    return f"IT.{table.upper()}.{column.upper()}"


def codelist_oid(table: str, column: str) -> str:
    return f"CL.{table.upper()}.{column.upper()}"


def unit_oid(unit: str) -> str:
    return "MU." + "".join(ch if ch.isalnum() else "_" for ch in unit.encode("ascii", "replace").decode())


def odm_type(col: Column) -> str:
    if col.type in ("integer", "day"):
        return "integer"
    if col.type == "decimal":
        return "float"
    if col.type == "boolean":
        return "boolean"
    if col.type == "code" and col.codes and isinstance(col.codes[0][0], int):
        return "integer"
    return "text"


def _a(value: Any) -> str:
    return quoteattr(str(value))


def _translated(tag: str, text: str) -> str:
    return f'<{tag}><TranslatedText xml:lang="en">{_esc(text)}</TranslatedText></{tag}>'


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_metadata(out: TextIO, tables: list[TableColumns]) -> None:
    units = sorted({c.units for t in tables for c in t.columns if c.units})
    out.write("<BasicDefinitions>")
    for unit in units:
        out.write(
            f"<MeasurementUnit OID={_a(unit_oid(unit))} Name={_a(unit)}>{_translated('Symbol', unit)}</MeasurementUnit>"
        )
    out.write("</BasicDefinitions>")
    out.write(f"<MetaDataVersion OID={_a(MDV_OID)} Name={_a('pDVA registry ' + VALUE_SET_VERSION)}>")
    out.write(
        f'<Protocol><StudyEventRef StudyEventOID={_a(EVENT_OID)} OrderNumber="1" Mandatory="Yes"/></Protocol>'
    )
    out.write(f'<StudyEventDef OID={_a(EVENT_OID)} Name="Registry" Repeating="No" Type="Common">')
    for n, t in enumerate(tables, 1):
        out.write(f'<FormRef FormOID={_a(table_oid(t.spec.name, "F"))} OrderNumber="{n}" Mandatory="No"/>')
    out.write("</StudyEventDef>")
    for t in tables:
        repeating = "No" if t.spec.one_per_patient else "Yes"
        out.write(
            f"<FormDef OID={_a(table_oid(t.spec.name, 'F'))} Name={_a(t.spec.name)} Repeating={_a(repeating)}>"
        )
        out.write(
            f'<ItemGroupRef ItemGroupOID={_a(table_oid(t.spec.name, "IG"))} Mandatory="Yes"/></FormDef>'
        )
    for t in tables:
        out.write(
            f'<ItemGroupDef OID={_a(table_oid(t.spec.name, "IG"))} Name={_a(t.spec.name)} Repeating="No">'
        )
        out.write(_translated("Description", t.spec.description))
        for n, c in enumerate(t.columns, 1):
            mandatory = "Yes" if c.required else "No"
            out.write(
                f'<ItemRef ItemOID={_a(item_oid(t.spec.name, c.name))} OrderNumber="{n}" Mandatory="{mandatory}"/>'
            )
        out.write("</ItemGroupDef>")
    for t in tables:
        for c in t.columns:
            out.write(
                f"<ItemDef OID={_a(item_oid(t.spec.name, c.name))} Name={_a(c.name)} DataType={_a(odm_type(c))}>"
            )
            description = c.label + (f" ({c.derivation})" if c.derivation else "")
            out.write(_translated("Description", description))
            if c.units:
                out.write(f"<MeasurementUnitRef MeasurementUnitOID={_a(unit_oid(c.units))}/>")
            if c.type == "code" and c.codes:
                out.write(f"<CodeListRef CodeListOID={_a(codelist_oid(t.spec.name, c.name))}/>")
            out.write("</ItemDef>")
    for t in tables:
        for c in t.columns:
            if c.type == "code" and c.codes:
                out.write(
                    f"<CodeList OID={_a(codelist_oid(t.spec.name, c.name))} Name={_a(c.name)} DataType={_a(odm_type(c))}>"
                )
                for code, label in c.codes:
                    out.write(
                        f"<CodeListItem CodedValue={_a(code)}>{_translated('Decode', str(label))}</CodeListItem>"
                    )
                out.write("</CodeList>")
    out.write("</MetaDataVersion>")


def _value(col: Column, value: Any) -> str:
    if col.type == "boolean":
        return "true" if value else "false"
    return str(value)


def export_odm(
    patients: QuerySet, out: Path, *, created_by: str = "", batch_size: int = PATIENT_BATCH
) -> dict[str, Any]:
    plan = research.plan()
    tables = plan.tables
    counts = {t.spec.name: 0 for t in tables}
    export_id = str(uuid.uuid4())
    created = timezone.now().isoformat()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8") as stream, snapshot():
        stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        stream.write(
            f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Snapshot" Granularity="All" '
            f"FileOID={_a('FILE.' + export_id)} CreationDateTime={_a(created)} "
            'Originator="pDVA registry" SourceSystem="pdva">'
        )
        stream.write(f"<Study OID={_a(STUDY_OID)}><GlobalVariables>")
        stream.write("<StudyName>pDVA registry</StudyName>")
        stream.write(
            "<StudyDescription>De-identified pDVA registry data (per-export pseudonyms, days from index)</StudyDescription>"
        )
        stream.write("<ProtocolName>pDVA registry</ProtocolName></GlobalVariables>")
        write_metadata(stream, tables)
        stream.write("</Study>")
        stream.write(f"<ClinicalData StudyOID={_a(STUDY_OID)} MetaDataVersionOID={_a(MDV_OID)}>")
        for _batch, rows in research.iter_batches(plan, patients, batch_size=batch_size):
            by_patient: dict[str, list[tuple[TableColumns, list[Any]]]] = {}
            for t in tables:
                pid = t.names.index("patient_id")
                for values in rows[t.spec.name]:
                    by_patient.setdefault(values[pid], []).append((t, values))
                    counts[t.spec.name] += 1
            for subject, records in by_patient.items():
                stream.write(
                    f"<SubjectData SubjectKey={_a(subject)}><StudyEventData StudyEventOID={_a(EVENT_OID)}>"
                )
                repeat: dict[str, int] = {}
                for t, values in records:
                    repeat[t.spec.name] = repeat.get(t.spec.name, 0) + 1
                    key = "" if t.spec.one_per_patient else f' FormRepeatKey="{repeat[t.spec.name]}"'
                    stream.write(f"<FormData FormOID={_a(table_oid(t.spec.name, 'F'))}{key}>")
                    stream.write(f"<ItemGroupData ItemGroupOID={_a(table_oid(t.spec.name, 'IG'))}>")
                    for c, v in zip(t.columns, values, strict=True):
                        if v is None or v == "":
                            continue
                        stream.write(
                            f"<ItemData ItemOID={_a(item_oid(t.spec.name, c.name))} Value={_a(_value(c, v))}/>"
                        )
                    stream.write("</ItemGroupData></FormData>")
                stream.write("</StudyEventData></SubjectData>")
        stream.write("</ClinicalData></ODM>\n")
    partial.replace(out)
    return {
        "kind": "odm",
        "export_id": export_id,
        "created_at": created,
        "created_by": created_by,
        "deidentified": True,
        "tables": counts,
        "sha256": lib.sha256_file(str(out)),
    }
