"""The PostgreSQL fast path of the research export gives exactly what the Python path gives."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile

import pyarrow.parquet as pq
import pytest
from django.db import connection

from pdva.audit.context import audit_context
from pdva.exports import lib, research_sql
from pdva.exports.research import export_research
from pdva.exports.services import run_export
from pdva.registry.models import Baseline, Patient, Procedure, Reintervention
from tests.exports.test_research_export import identifier_values
from tests.factories import MedicationFactory

KEY = bytes(range(32))
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the fast path is PostgreSQL's COPY"
)


def _members(path) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist() if name != "manifest.json"}


def _manifest(path) -> dict:  # type: ignore[no-untyped-def]
    import json

    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("manifest.json"))


def _both(tmp_path, fmt="csv", **options):  # type: ignore[no-untyped-def]
    patients = Patient.objects.all()
    python = export_research(
        patients, tmp_path / f"py.{fmt}.zip", fmt=fmt, engine="python", key=KEY, **options
    )
    sql = export_research(patients, tmp_path / f"sql.{fmt}.zip", fmt=fmt, engine="sql", key=KEY, **options)
    return python, sql


def _edge_cases() -> Procedure:
    """Values that stress the conversions: quotes and newlines in allowed free text, an empty multi-choice,
    an age over 90, an opted-out patient, a soft-deleted procedure (its children leave with it)."""
    with audit_context(label="test", reason="edge cases"):
        procedure = Procedure.objects.order_by("id").first()
        procedure.notes = 'He said "no", then\nyes, 3|4'
        identity = procedure.patient.identity
        identity.date_of_birth = dt.date(1920, 1, 1)
        identity.save()
        procedure.save(reason="age recomputed")
        baseline = Baseline.objects.exclude(wound_locations=[]).order_by("id").first()
        if baseline is not None:
            baseline.wound_locations = []
            baseline.save(reason="no wounds")
        opted = Patient.objects.filter(national_data_opt_out=False).order_by("-id").first()
        opted.national_data_opt_out = True
        opted.save(reason="opt-out registered")
        gone = (
            Procedure.objects.exclude(pk=procedure.pk)
            .filter(visits__isnull=False, patient__national_data_opt_out=False)
            .exclude(patient=opted)
            .order_by("id")
            .first()
        )
    # A drug episode still pointing at the procedure deleted below (its pseudonym is hashed, not joined).
    MedicationFactory(patient=gone.patient, procedure=gone, start_date=gone.procedure_date)
    with audit_context(label="test", reason="edge cases"):
        gone.soft_delete(reason="entered in error")
    return gone


@postgres_only
def test_both_engines_give_byte_identical_csv_tables_for_the_same_key(cohort, tmp_path):
    gone = _edge_cases()
    python, sql = _both(tmp_path, allow_free_text=frozenset({"procedures.notes"}))
    assert python["engine"] == "python" and sql["engine"] == "postgresql-copy"
    assert python["tables"] == sql["tables"] and python["patients"] == sql["patients"] > 0
    assert python["excluded_national_data_opt_out"] == sql["excluded_national_data_opt_out"] >= 1
    before, after = _members(tmp_path / "py.csv.zip"), _members(tmp_path / "sql.csv.zip")
    assert sorted(before) == sorted(after)
    for name in before:
        assert before[name] == after[name], f"{name} differs between the engines"
    assert python["files"] == sql["files"]
    # The edge cases really were exercised.
    procedures = list(csv.DictReader(io.StringIO(after["procedures.csv"].decode())))
    assert any(row["notes"] == 'He said "no", then\nyes, 3|4' for row in procedures)
    assert "90" in {row["age_at_procedure"] for row in procedures}
    assert (
        len(procedures)
        == Procedure.objects.filter(deleted_at__isnull=True, patient__national_data_opt_out=False).count()
    )
    medications = list(csv.DictReader(io.StringIO(after["medications.csv"].decode())))
    assert lib.Pseudonymiser(KEY)("procedure", gone.pk) in {row["procedure_id"] for row in medications}
    reinterventions = list(csv.DictReader(io.StringIO(after["reinterventions.csv"].decode())))
    assert (
        len(reinterventions)
        == Reintervention.objects.filter(
            procedure__deleted_at__isnull=True, procedure__patient__national_data_opt_out=False
        ).count()
    )


@postgres_only
def test_both_engines_give_the_same_parquet_tables_for_the_same_key(cohort, tmp_path):
    _edge_cases()
    python, sql = _both(tmp_path, fmt="parquet")
    assert python["tables"] == sql["tables"]
    before, after = _members(tmp_path / "py.parquet.zip"), _members(tmp_path / "sql.parquet.zip")
    for name in python["tables"]:
        one = pq.read_table(io.BytesIO(before[f"{name}.parquet"]))
        two = pq.read_table(io.BytesIO(after[f"{name}.parquet"]))
        assert one.schema.equals(two.schema), name
        assert one.to_pylist() == two.to_pylist(), f"{name} differs between the engines"
    assert before["dictionary.csv"] == after["dictionary.csv"]


@postgres_only
def test_pseudonyms_are_the_keyed_hmac_in_both_engines(cohort, tmp_path):
    export_research(Patient.objects.all(), tmp_path / "sql.zip", engine="sql", key=KEY)
    with zipfile.ZipFile(tmp_path / "sql.zip") as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("patients.csv").decode())))
    pseudo = lib.Pseudonymiser(KEY)
    expected = {
        pseudo("patient", pk)
        for pk in Patient.objects.filter(national_data_opt_out=False).values_list("id", flat=True)
    }
    assert {row["patient_id"] for row in rows} == expected
    assert all(re.fullmatch(r"[0-9a-f]{16}", row["patient_id"]) for row in rows)


@postgres_only
def test_the_fast_path_is_what_users_get_and_leaves_no_identifier_or_temp_table(cohort, rita, tmp_path):
    with audit_context(rita):
        result = run_export("research", rita, tmp_path / "r.zip")
    assert result.manifest["engine"] == "postgresql-copy"
    with zipfile.ZipFile(result.path) as zf:
        text = "\n".join(zf.read(n).decode() for n in zf.namelist())
    for value in identifier_values():
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text), value
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'pdva_research_%%'")
        assert cursor.fetchone()[0] == 0


@postgres_only
def test_the_key_never_appears_in_the_export_statements(cohort):
    from pdva.exports import research

    plan = research.plan(key=KEY)
    hmac = research_sql.Hmac(plan.state.pseudonymise)
    cohort_tables = research_sql.Cohort("c", "cp")
    maps = research_sql.PseudonymMaps({"operator": "mo", "site": "ms"})
    secrets = [KEY.hex(), *(pad.hex() for pad in lib.hmac_pads(KEY))]
    for table in plan.tables:
        sql = research_sql.table_sql(table, cohort_tables, maps, hmac, empty_as_null=True)
        assert "sha256(" in sql or table.spec.name == "patients"
        assert not any(secret in sql.lower() for secret in secrets), table.spec.name


def test_hmac_pads_reproduce_the_python_hmac():
    import hashlib
    import hmac

    for key in (KEY, b"k" * 16, b"long" * 40):
        inner, outer = lib.hmac_pads(key)
        message = b"procedure:42"
        by_pads = hashlib.sha256(outer + hashlib.sha256(inner + message).digest()).hexdigest()
        assert by_pads == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_sqlite_uses_the_python_path_and_refuses_the_sql_engine(cohort, tmp_path):
    if connection.vendor == "postgresql":
        assert research_sql.available()
        return
    manifest = export_research(Patient.objects.all(), tmp_path / "auto.zip", key=KEY)
    assert manifest["engine"] == "python"
    assert _manifest(tmp_path / "auto.zip")["tables"] == manifest["tables"]
    with pytest.raises(ValueError, match="PostgreSQL"):
        export_research(Patient.objects.all(), tmp_path / "sql.zip", engine="sql")
