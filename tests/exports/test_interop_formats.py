"""REDCap, CDISC ODM 1.3.2 and FHIR R4 exports."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest
from fhir.resources.R4B.bundle import Bundle

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.exports import redcap
from pdva.exports.services import ExportRefused, run_export
from pdva.registry.models import Patient, PatientIdentity, Procedure
from tests.exports.test_research_export import identifier_values

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def _export(kind, user, tmp_path, name):  # type: ignore[no-untyped-def]
    with audit_context(user):
        return run_export(kind, user, tmp_path / name)


def _csv(zf: zipfile.ZipFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(zf.read(name).decode())))


def test_redcap_dictionary_has_the_18_columns_and_every_exported_field(cohort, rita, tmp_path):
    result = _export("redcap", rita, tmp_path, "redcap.zip")
    with zipfile.ZipFile(result.path) as zf:
        dictionary = _csv(zf, "redcap_data_dictionary.csv")
        data = list(csv.DictReader(io.StringIO(zf.read("redcap_data.csv").decode())))
        header = _csv(zf, "redcap_data.csv")[0]
        mapping = _csv(zf, "redcap_instrument_event_mapping.csv")
        repeating = _csv(zf, "redcap_repeating_instruments.csv")
    assert dictionary[0] == redcap.HEADER and len(redcap.HEADER) == 18
    assert all(len(row) == 18 for row in dictionary)
    assert dictionary[1][0] == "record_id"
    fields = {row[0]: row for row in dictionary[1:]}
    assert header[:4] == [
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
    ]
    for column in header[4:]:
        base = column.split("___")[0]
        assert base in fields, f"{column} is not in the REDCap dictionary"
        if "___" in column:
            assert fields[base][3] == "checkbox"
    for name, row in fields.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        if row[3] in ("dropdown", "checkbox"):
            codes = [choice.split(",")[0].strip() for choice in row[5].split(" | ")]
            assert all(re.fullmatch(r"[A-Za-z0-9_]+", code) for code in codes), (name, codes)
    # Forms are contiguous, as REDCap requires.
    forms = [row[1] for row in dictionary[1:]]
    assert forms == sorted(forms, key=lambda f: forms.index(f))
    # Longitudinal shape: one enrolment row per patient, repeating instruments numbered from 1.
    patients = Patient.objects.filter(national_data_opt_out=False).count()
    enrolment = [
        r for r in data if r["redcap_event_name"] == "enrolment_arm_1" and not r["redcap_repeat_instrument"]
    ]
    assert len(enrolment) == patients
    visits = [r for r in data if r["redcap_repeat_instrument"] == "followup"]
    assert visits and all(r["redcap_event_name"] != "enrolment_arm_1" for r in visits)
    assert {r["redcap_repeat_instance"] for r in visits} >= {"1"}
    assert ["1", "m3_arm_1", "followup"] in mapping
    assert ["enrolment_arm_1", "procedure", ""] in repeating
    # Coded values in the data are codes in the dictionary.
    for row in data:
        value = row["fu_circuit_patency"]
        if value:
            assert f"{value}, " in fields["fu_circuit_patency"][5]


def test_odm_file_parses_in_the_odm_namespace_and_matches_the_dictionary(cohort, nora, tmp_path):
    result = _export("odm", nora, tmp_path, "study.xml")
    root = ET.parse(result.path).getroot()
    assert root.tag == f"{ODM}ODM" and root.get("ODMVersion") == "1.3.2"
    mdv = root.find(f"{ODM}Study/{ODM}MetaDataVersion")
    item_defs = {i.get("OID"): i for i in mdv.iter(f"{ODM}ItemDef")}
    code_lists = {
        cl.get("OID"): {item.get("CodedValue") for item in cl.iter(f"{ODM}CodeListItem")}
        for cl in mdv.iter(f"{ODM}CodeList")
    }
    # Metadata matches the research data dictionary, field for field.
    research = _export("research", nora, tmp_path, "r.zip")
    with zipfile.ZipFile(research.path) as zf:
        dictionary = list(csv.DictReader(io.StringIO(zf.read("dictionary.csv").decode())))
    expected = {
        f"IT.{d['table'].upper()}.{d['field'].upper()}": d for d in dictionary if d["type"] != "withheld"
    }
    assert set(item_defs) == set(expected)
    for oid, item in item_defs.items():
        assert item.get("Name") == expected[oid]["field"]
        ref = item.find(f"{ODM}CodeListRef")
        if ref is not None:
            codes = {c.split("=", 1)[0] for c in expected[oid]["codes"].split("; ")}
            assert code_lists[ref.get("CodeListOID")] == codes
    for ig in mdv.iter(f"{ODM}ItemGroupDef"):
        assert all(ref.get("ItemOID") in item_defs for ref in ig.iter(f"{ODM}ItemRef"))
    subjects = root.findall(f"{ODM}ClinicalData/{ODM}SubjectData")
    assert len(subjects) == Patient.objects.filter(national_data_opt_out=False).count()
    for data in root.iter(f"{ODM}ItemData"):
        item = item_defs[data.get("ItemOID")]
        ref = item.find(f"{ODM}CodeListRef")
        if ref is not None:
            assert data.get("Value") in code_lists[ref.get("CodeListOID")]
        if item.get("DataType") == "integer":
            int(data.get("Value"))
    text = result.path.read_text()
    for value in identifier_values():
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text)


def _bundle(path) -> tuple[Bundle, dict]:  # type: ignore[no-untyped-def]
    raw = json.loads(path.read_text())
    return Bundle.model_validate(raw), raw


def test_identified_fhir_bundle_validates_and_carries_nhs_numbers(cohort, manager, tmp_path):
    result = _export("fhir", manager, tmp_path, "bundle.json")
    bundle, raw = _bundle(result.path)
    kinds = {e.resource.get_resource_type() for e in bundle.entry}
    assert {"Patient", "Condition", "Procedure", "Device", "Observation", "AdverseEvent"} <= kinds
    assert {"QuestionnaireResponse", "Consent"} <= kinds
    patients = [e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == Patient.objects.filter(site=cohort[0]).count()
    nhs = {i.nhs_number for i in PatientIdentity.objects.filter(patient__site=cohort[0])}
    exported = {p["identifier"][0]["value"] for p in patients}
    assert exported == nhs
    assert all(p["identifier"][0]["system"] == "https://fhir.nhs.uk/Id/nhs-number" for p in patients)
    urls = {e["fullUrl"] for e in raw["entry"]}
    for entry in raw["entry"]:
        ref = entry["resource"].get("subject") or entry["resource"].get("patient")
        if ref:
            assert ref["reference"] in urls


def test_deidentified_fhir_bundle_has_no_identifiers(cohort, rita, tmp_path):
    result = _export("fhir", rita, tmp_path, "bundle.json")
    bundle, raw = _bundle(result.path)
    assert bundle.entry
    text = result.path.read_text()
    for value in identifier_values():
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text), value
    assert "nhs-number" not in text
    assert AuditEntry.objects.filter(action="exports.fhir.created", after__mode="deidentified").exists()


@pytest.mark.parametrize("kind", ["redcap", "odm", "fhir"])
def test_interop_exports_refuse_roles_without_export_rights(cohort, alice, gina, nobody, tmp_path, kind):
    for user in (alice, gina, nobody):
        with audit_context(label="test"), pytest.raises(ExportRefused):
            run_export(kind, user, tmp_path / "x")


def test_deidentified_fhir_bundle_names_the_device_by_its_code_only(cohort, rita, tmp_path):
    procedure = Procedure.objects.filter(patient__site=cohort[0], device_code="limflow_system").first()
    assert procedure is not None and procedure.device_manufacturer  # the synthetic cohort fills both
    result = _export("fhir", rita, tmp_path, "bundle.json")
    _, raw = _bundle(result.path)
    devices = [e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == "Device"]
    assert devices and all("manufacturer" not in d and "deviceName" not in d for d in devices)
    codes = {d["type"]["coding"][0]["code"] for d in devices}
    assert "limflow_system" in codes
    assert all(d["type"]["coding"][0]["system"] == "urn:pdva:reference:device" for d in devices)
