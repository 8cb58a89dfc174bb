"""No free-entry text in de-identified exports unless allowed by name: an NHS number typed into the device
manufacturer, device model or dose unit reaches the identified full export only, never the research, REDCap,
ODM or FHIR (de-identified) exports; the research dictionary lists those fields as withheld."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from pdva.audit.context import audit_context
from pdva.exports.columns import CODED_TEXT
from pdva.exports.services import run_export
from pdva.registry.models import Medication, Procedure

TYPED = "9434765919"  # an NHS-number-like string (valid check digit), typed where a device or unit goes


@pytest.fixture
def typed_identifier(cohort):  # type: ignore[no-untyped-def]
    procedure = Procedure.objects.filter(patient__site=cohort[0]).order_by("pk").first()
    medication = Medication.objects.filter(patient__site=cohort[0]).order_by("pk").first()
    with audit_context(label="test", reason="identifier in free text"):
        procedure.device_manufacturer = f"Acme for {TYPED}"
        procedure.device_model = f"NHS {TYPED}"
        procedure.save()
        medication.dose_unit = TYPED
        medication.save()
    return procedure


def _all_text(path) -> str:  # type: ignore[no-untyped-def]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())
    return path.read_text()


@pytest.mark.parametrize("kind", ["research", "redcap", "odm", "fhir"])
def test_free_text_typed_identifier_is_absent_from_deidentified_exports(
    kind, typed_identifier, nora, tmp_path
):
    with audit_context(nora):
        result = run_export(kind, nora, tmp_path / f"{kind}.out")
    text = _all_text(result.path)
    assert len(text) > 1000  # a real export with records in it
    assert TYPED not in text
    assert "Acme for" not in text


def test_parquet_research_export_leaves_them_out_too(typed_identifier, nora, tmp_path):
    with audit_context(nora):
        result = run_export("research", nora, tmp_path / "r.zip", fmt="parquet")
    with zipfile.ZipFile(result.path) as zf:
        assert not any(TYPED.encode() in zf.read(n) for n in zf.namelist())


def test_the_identified_full_export_keeps_them(typed_identifier, manager, tmp_path):
    with audit_context(manager):
        result = run_export("full", manager, tmp_path / "full.zip")
    text = _all_text(result.path)
    assert f"NHS {TYPED}" in text and f"Acme for {TYPED}" in text


def test_the_research_dictionary_names_the_withheld_fields(typed_identifier, nora, tmp_path):
    with audit_context(nora):
        result = run_export("research", nora, tmp_path / "r.zip")
    with zipfile.ZipFile(result.path) as zf:
        dictionary = list(csv.DictReader(io.StringIO(zf.read("dictionary.csv").decode())))
        markdown = zf.read("dictionary.md").decode()
        procedures_header = next(csv.reader(io.StringIO(zf.read("procedures.csv").decode())))
    withheld = {(d["table"], d["field"]) for d in dictionary if d["type"] == "withheld"}
    assert {("procedures", "device_model"), ("procedures", "device_manufacturer")} <= withheld
    assert ("medications", "dose_unit") in withheld and ("procedures", "notes") in withheld
    assert "device_model" not in procedures_header
    assert "`device_model`" in markdown and "Withheld" in markdown


def test_the_allow_list_holds_no_free_entry_device_or_unit_fields():
    assert not {"device_manufacturer", "device_model", "dose_unit"} & CODED_TEXT


def test_the_coded_device_reaches_researchers_where_the_free_text_does_not(typed_identifier, nora, tmp_path):
    with audit_context(label="test", reason="coded device"):
        typed_identifier.device_code = "limflow_system"
        typed_identifier.save()
    with audit_context(nora):
        result = run_export("research", nora, tmp_path / "r.zip")
    with zipfile.ZipFile(result.path) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("procedures.csv").decode())))
        dictionary = list(csv.DictReader(io.StringIO(zf.read("dictionary.csv").decode())))
    assert "limflow_system" in {r["device_code"] for r in rows}
    coded = next(d for d in dictionary if (d["table"], d["field"]) == ("procedures", "device_code"))
    assert coded["type"] != "withheld" and "limflow_system" in str(coded)
