"""CDISC ODM 1.3.2 export: study metadata generated from the research dictionary, and clinical data
streamed patient by patient (de-identified: SubjectKey is the per-export patient pseudonym)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import quoteattr

from django.db.models import QuerySet
from django.utils import timezone

from pdva.exports import lib, research
from pdva.exports.columns import Column, TableColumns
from pdva.exports.stream import PATIENT_BATCH, batch_queryset, snapshot
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


class AuditTrail:
    """ODM AuditRecords from the registry's audit log, de-identified: users and sites appear as per-export
    pseudonyms (AdminData User and Location), never names or usernames.

    For each ItemData, the record is the latest audit entry that set the field it comes from (its creation
    when it was never edited): who (UserRef), at which site (LocationRef), when (DateTimeStamp, UTC) and why
    (ReasonForChange, when a reason was given)."""

    def __init__(self, plan: research.ResearchPlan) -> None:
        self.pseudo = plan.state.pseudonymise
        self.types = {t.spec.model._meta.label_lower: t for t in plan.tables}

    def user_oid(self, actor_id: int | None, label: str) -> str:
        if actor_id is None:
            return f"USR.SYSTEM.{self.pseudo('system', label)}"
        return f"USR.{self.pseudo('user', actor_id)}"

    def location_oid(self, site_id: int | None) -> str:
        return f"LOC.{self.pseudo('site', site_id)}" if site_id is not None else "LOC.REGISTRY"

    def write_admin(self, out: TextIO, created: str) -> None:
        """AdminData: every user and site that appears in the audit of the exported tables."""
        from pdva.audit.models import AuditEntry

        entries = AuditEntry.objects.filter(object_type__in=list(self.types))
        users = sorted(
            {
                (self.user_oid(a, label), a is None, label)
                for a, label in entries.values_list("actor_id", "actor_label").distinct()
            }
        )
        sites = sorted({self.location_oid(s) for s in entries.values_list("site_id", flat=True).distinct()})
        out.write(f"<AdminData StudyOID={_a(STUDY_OID)}>")
        for oid, system, label in users:
            name = f"system process {label}" if system else f"registry user {oid[4:]}"
            out.write(f'<User OID={_a(oid)} UserType="Other"><DisplayName>{_esc(name)}</DisplayName></User>')
        for oid in sites:
            out.write(
                f'<Location OID={_a(oid)} Name={_a("site " + oid[4:])} LocationType="Site">'
                f"<MetaDataVersionRef StudyOID={_a(STUDY_OID)} MetaDataVersionOID={_a(MDV_OID)} "
                f"EffectiveDate={_a(created[:10])}/></Location>"
            )
        out.write("</AdminData>")

    def for_rows(self, table: TableColumns, ids: list[int]) -> list[dict[str, str]]:
        """For each row (by internal id, in order): column name -> AuditRecord XML."""
        from pdva.audit.models import AuditEntry

        label = table.spec.model._meta.label_lower
        history: dict[str, list[tuple[Any, ...]]] = {}
        for entry in (
            AuditEntry.objects.filter(object_type=label, object_id__in=[str(i) for i in ids])
            .order_by("seq")
            .values_list(
                "object_id", "seq", "timestamp", "actor_id", "actor_label", "site_id", "after", "reason"
            )
        ):
            history.setdefault(entry[0], []).append(entry)
        out = []
        for pk in ids:
            entries = history.get(str(pk), [])
            records: dict[str, str] = {}
            if entries:
                for col in table.columns:
                    attname = _attname(table, col)
                    chosen = entries[0]
                    for entry in entries:
                        if attname in (entry[6] or {}):
                            chosen = entry
                    records[col.name] = self.record(chosen)
            out.append(records)
        return out

    def record(self, entry: tuple[Any, ...]) -> str:
        _oid, seq, timestamp, actor_id, actor_label, site_id, _after, reason = entry
        stamp = timestamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        why = f"<ReasonForChange>{_esc(reason)}</ReasonForChange>" if reason else ""
        return (
            '<AuditRecord EditPoint="DataManagement" UsedImputationMethod="No">'
            f"<UserRef UserOID={_a(self.user_oid(actor_id, actor_label))}/>"
            f"<LocationRef LocationOID={_a(self.location_oid(site_id))}/>"
            f"<DateTimeStamp>{stamp}</DateTimeStamp>{why}<SourceID>AUDIT.{seq}</SourceID></AuditRecord>"
        )


def _attname(table: TableColumns, col: Column) -> str:
    """The model attribute an exported column comes from (the row's own key comes from its creation)."""
    source = col.sources[0] if col.sources else ""
    if source == "id":
        return ""
    f = col.model_field
    return f.attname if f is not None and not source.count("__") else source


def export_odm(
    patients: QuerySet,
    out: Path,
    *,
    created_by: str = "",
    batch_size: int = PATIENT_BATCH,
    audit: bool = False,
    key: bytes | None = None,
) -> dict[str, Any]:
    """``audit``: add ODM AuditRecords (callers check the role may have them); ``key``: pseudonym key."""
    plan = research.plan(key=key)
    tables = plan.tables
    trail = AuditTrail(plan) if audit else None
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
        if trail is not None:
            trail.write_admin(stream, created)
        stream.write(f"<ClinicalData StudyOID={_a(STUDY_OID)} MetaDataVersionOID={_a(MDV_OID)}>")
        for batch, rows in research.iter_batches(plan, patients, batch_size=batch_size):
            by_patient: dict[str, list[tuple[TableColumns, list[Any], dict[str, str]]]] = {}
            for t in tables:
                pid = t.names.index("patient_id")
                audits: list[dict[str, str]] = [{}] * len(rows[t.spec.name])
                if trail is not None:
                    ids = list(
                        batch_queryset(t, batch)
                        .order_by(t.spec.patient_path, "id")
                        .values_list("id", flat=True)
                    )
                    audits = trail.for_rows(t, ids)
                for values, audit_records in zip(rows[t.spec.name], audits, strict=True):
                    by_patient.setdefault(values[pid], []).append((t, values, audit_records))
                    counts[t.spec.name] += 1
            for subject, records in by_patient.items():
                stream.write(
                    f"<SubjectData SubjectKey={_a(subject)}><StudyEventData StudyEventOID={_a(EVENT_OID)}>"
                )
                repeat: dict[str, int] = {}
                for t, values, audit_records in records:
                    repeat[t.spec.name] = repeat.get(t.spec.name, 0) + 1
                    key = "" if t.spec.one_per_patient else f' FormRepeatKey="{repeat[t.spec.name]}"'
                    stream.write(f"<FormData FormOID={_a(table_oid(t.spec.name, 'F'))}{key}>")
                    stream.write(f"<ItemGroupData ItemGroupOID={_a(table_oid(t.spec.name, 'IG'))}>")
                    for c, v in zip(t.columns, values, strict=True):
                        if v is None or v == "":
                            continue
                        item = (
                            f"<ItemData ItemOID={_a(item_oid(t.spec.name, c.name))} Value={_a(_value(c, v))}"
                        )
                        trail_xml = audit_records.get(c.name)
                        stream.write(f"{item}>{trail_xml}</ItemData>" if trail_xml else f"{item}/>")
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
        "audit_records": audit,
        "tables": counts,
        "sha256": lib.sha256_file(str(out)),
    }
