"""The de-identified research export: tidy tables, pseudonyms, days from index, no identifiers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile

import pyarrow.parquet as pq
import pytest

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.exports.services import ExportRefused, run_export
from pdva.registry.models import FollowUpVisit, Patient, PatientIdentity, Procedure


def _export(user, tmp_path, name="r.zip", **options):  # type: ignore[no-untyped-def]
    with audit_context(user):
        return run_export("research", user, tmp_path / name, **options)


def _texts(path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every member as text; Parquet members are decoded to their values (bytes are compressed)."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            if name.endswith(".parquet"):
                out[name] = repr(pq.read_table(io.BytesIO(data)).to_pylist())
            else:
                out[name] = data.decode("utf-8")
    return out


def _table(path, name) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(f"{name}.csv").decode())))


def identifier_values() -> list[str]:
    values: list[str] = []
    for identity in PatientIdentity.objects.select_related("patient"):
        nhs, dob = identity.nhs_number, identity.date_of_birth
        values += [nhs, f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}", f"{nhs[:3]}-{nhs[3:6]}-{nhs[6:]}"]
        values += [
            identity.family_name,
            identity.given_name,
            identity.postcode,
            identity.postcode.replace(" ", ""),
        ]
        values += [
            dob.isoformat(),
            dob.strftime("%d/%m/%Y"),
            dob.strftime("%Y/%m/%d"),
            dob.strftime("%d-%m-%Y"),
            dob.strftime("%Y%m%d"),
            dob.strftime("%d %b %Y"),
            dob.strftime("%d %B %Y"),
            dob.strftime("%m/%d/%Y"),
            dob.strftime("%d.%m.%Y"),
        ]
        values += [identity.patient.registry_id, str(identity.patient.uuid)]
    return [v for v in values if v]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_no_identifier_of_any_seeded_patient_appears_in_a_research_export(cohort, rita, tmp_path, fmt):
    result = _export(rita, tmp_path, fmt=fmt)
    texts = _texts(result.path)
    values = identifier_values()
    assert len(values) > 20 * 10
    for name, text in texts.items():
        for value in values:
            pattern = rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])"
            assert not re.search(pattern, text), f"{value!r} found in {name}"


def test_opted_out_patients_are_excluded_and_the_manifest_says_so(cohort, nora, tmp_path):
    already = Patient.objects.filter(national_data_opt_out=True).count()
    patient = Patient.objects.filter(national_data_opt_out=False).order_by("id").first()
    patient.national_data_opt_out = True
    with audit_context(label="test", reason="opt-out registered"):
        patient.save()
    result = _export(nora, tmp_path)
    total = Patient.objects.count()
    assert result.manifest["patients"] == total - already - 1
    assert result.manifest["excluded_national_data_opt_out"] == already + 1
    assert "excluded" in result.manifest["deidentification"]["national_data_opt_out"]
    rows = _table(result.path, "patients")
    assert len(rows) == total - already - 1
    assert (
        len(_table(result.path, "procedures"))
        == Procedure.objects.filter(patient__national_data_opt_out=False).count()
    )


def test_dates_become_days_from_the_first_index_procedure(cohort, rita, tmp_path):
    result = _export(rita, tmp_path)
    procedures = _table(result.path, "procedures")
    visits = _table(result.path, "followups")
    assert "procedure_date" not in procedures[0] and "visit_date" not in visits[0]
    firsts = {}
    for row in procedures:
        firsts.setdefault(row["patient_id"], []).append(int(row["procedure_day"]))
    assert all(min(days) == 0 for days in firsts.values())
    # Intervals are preserved: visit day minus procedure day equals the real interval for one-procedure patients.
    expected = sorted(
        (v.visit_date - v.procedure.procedure_date).days
        for v in FollowUpVisit.objects.select_related("procedure")
        if v.procedure.patient.procedures.count() == 1 and not v.procedure.patient.national_data_opt_out
    )
    single = {pid for pid, days in firsts.items() if len(days) == 1}
    got = sorted(int(v["visit_day"]) for v in visits if v["patient_id"] in single)
    assert got == expected


def test_ages_over_90_are_top_coded(cohort, rita, tmp_path):
    procedure = Procedure.objects.order_by("id").first()
    identity = procedure.patient.identity
    identity.date_of_birth = dt.date(1920, 1, 1)
    with audit_context(label="test", reason="correct date of birth"):
        identity.save()
        procedure.save(reason="recompute age")
    procedure.refresh_from_db()
    assert procedure.age_at_procedure > 100
    ages = [row["age_at_procedure"] for row in _table(_export(rita, tmp_path).path, "procedures")]
    assert "90" in ages and max(int(a) for a in ages if a) == 90


def test_free_text_is_dropped_unless_allowed_per_field(cohort, rita, tmp_path):
    procedure = Procedure.objects.order_by("id").first()
    procedure.notes = "Seen by Mr Zebedee on ward 7"
    with audit_context(label="test", reason="add note"):
        procedure.save()
    plain = _export(rita, tmp_path, "plain.zip")
    assert not any("Zebedee" in t for t in _texts(plain.path).values())
    assert "notes" not in _table(plain.path, "procedures")[0]
    allowed = _export(rita, tmp_path, "allowed.zip", allow_free_text=frozenset({"procedures.notes"}))
    assert any("Zebedee" in row["notes"] for row in _table(allowed.path, "procedures"))
    assert allowed.manifest["deidentification"]["free_text"] == ["procedures.notes"]


def test_pseudonyms_are_consistent_within_and_unlinkable_across_exports(cohort, rita, tmp_path):
    one, two = _export(rita, tmp_path, "1.zip"), _export(rita, tmp_path, "2.zip")
    ids_one = {r["patient_id"] for r in _table(one.path, "patients")}
    ids_two = {r["patient_id"] for r in _table(two.path, "patients")}
    assert not ids_one & ids_two
    assert {r["patient_id"] for r in _table(one.path, "procedures")} <= ids_one
    procedure_ids = {r["procedure_id"] for r in _table(one.path, "procedures")}
    assert {r["procedure_id"] for r in _table(one.path, "followups")} <= procedure_ids


def test_dictionary_describes_every_exported_column(cohort, rita, tmp_path):
    result = _export(rita, tmp_path)
    with zipfile.ZipFile(result.path) as zf:
        dictionary = list(csv.DictReader(io.StringIO(zf.read("dictionary.csv").decode())))
        markdown = zf.read("dictionary.md").decode()
    described = {(d["table"], d["field"]) for d in dictionary}
    for table, count in result.manifest["tables"].items():
        header = next(csv.reader(io.StringIO(_texts(result.path)[f"{table}.csv"])))
        assert {(table, h) for h in header} <= described
        assert result.manifest["files"][f"{table}.csv"]["rows"] == count
    by_field = {(d["table"], d["field"]): d for d in dictionary}
    assert by_field[("baseline", "toe_pressure_mmhg")]["units"] == "mmHg"
    assert "yes=Yes" in by_field[("baseline", "dialysis_dependent")]["codes"]
    assert "MALE" in by_field[("reinterventions", "is_major")]["derivation"]
    assert "## `procedures`" in markdown


def test_parquet_export_reads_back_with_typed_columns(cohort, rita, tmp_path):
    result = _export(rita, tmp_path, fmt="parquet")
    with zipfile.ZipFile(result.path) as zf:
        table = pq.read_table(io.BytesIO(zf.read("procedures.parquet")))
    assert table.num_rows == result.manifest["tables"]["procedures"]
    assert str(table.schema.field("procedure_day").type) == "int64"
    assert str(table.schema.field("stent_graft_min_diameter_mm").type).startswith("decimal128")


def test_research_export_roles(cohort, rita, nora, alice, manager, gina, nobody, tmp_path):
    for user in (alice, manager, gina, nobody):
        with audit_context(label="test"), pytest.raises(ExportRefused):
            run_export("research", user, tmp_path / "x.zip")
    for user in (rita, nora):
        result = _export(user, tmp_path, f"{user.username}.zip")
        assert result.manifest["patients"] == Patient.objects.filter(national_data_opt_out=False).count()
    assert AuditEntry.objects.filter(action="exports.research.created").count() == 2
