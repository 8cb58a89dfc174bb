"""Imports: dry runs change nothing, bad rows are reported by file, row and field, real runs are all-or-nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile

import pytest
from django.core.management import CommandError, call_command

from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.exports.importer import ImportRefused, import_path
from pdva.exports.models import ImportBatch
from pdva.registry.models import FollowUpVisit, Patient, Procedure
from tests.exports.conftest import full_export, rewrite_export, wipe_registry


def test_dry_run_reports_and_changes_nothing(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    wipe_registry()
    entries = AuditEntry.objects.count()
    report = import_path(path, user=sam, dry_run=True)
    assert report.ok and not report.committed
    assert report.created["patients"] > 0
    assert not Patient.objects.exists()
    assert AuditEntry.objects.count() == entries


def test_bad_rows_are_reported_with_file_row_and_field_and_nothing_is_saved(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)

    def damage(rows):  # type: ignore[no-untyped-def]
        rows[0]["circuit_patency"] = "wobbly"
        rows[1]["visit_date"] = "2024-13-45"
        rows[2]["visit_date"] = "1990-01-01"  # before the index procedure: the model's own rule

    bad = rewrite_export(path, tmp_path / "bad.zip", {"followups": damage})
    wipe_registry()
    report = import_path(bad, user=sam)
    assert not report.ok and not report.committed
    found = {(p.file, p.row, p.field) for p in report.problems}
    assert ("followups.csv", 2, "circuit_patency") in found
    assert ("followups.csv", 3, "visit_date") in found
    assert ("followups.csv", 4, "visit_date") in found
    messages = " ".join(p.problem for p in report.problems)
    assert "wobbly" in messages and "before the index procedure" in messages
    assert (
        not Patient.objects.exists() and not Procedure.objects.exists() and not FollowUpVisit.objects.exists()
    )
    assert "followups.csv,3,visit_date" in report.as_csv()


def test_importing_records_already_present_is_refused(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    report = import_path(path, user=sam)
    assert not report.ok
    assert any("already in the registry" in p.problem for p in report.problems)


def test_only_admins_or_data_managers_of_every_site_in_the_file_may_import(
    cohort, manager, alice, rita, tmp_path
):
    path = full_export(manager, tmp_path)
    for user in (alice, rita):
        with pytest.raises(ImportRefused):
            import_path(path, user=user, dry_run=True)
    report = import_path(path, user=manager, dry_run=True)  # own site: allowed (duplicates reported)
    assert not report.ok


def test_commands_export_and_import(cohort, manager, sam, tmp_path, capsys):
    out = tmp_path / "cli.zip"
    call_command("export", "full", "--out", str(out), "--user", manager.username)
    assert out.exists() and "sha256" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("export", "research", "--out", str(tmp_path / "r.zip"), "--user", manager.username)
    with pytest.raises(CommandError):
        call_command("export", "full", "--out", str(tmp_path / "x.zip"), "--user", "nobody-here")
    wipe_registry()
    report_path = tmp_path / "report.csv"
    call_command("import", str(out), "--dry-run", "--user", sam.username, "--report", str(report_path))
    assert not Patient.objects.exists()
    call_command("import", str(out), "--user", sam.username)
    assert Patient.objects.exists()
    assert AuditEntry.objects.filter(
        action="registry.procedure.created", reason__startswith="import "
    ).exists()


def test_a_single_dictionary_csv_can_be_imported(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    with zipfile.ZipFile(path) as zf:
        (tmp_path / "sites.csv").write_bytes(zf.read("sites.csv"))
    wipe_registry()
    report = import_path(tmp_path / "sites.csv", user=sam)
    assert report.ok and report.created["sites"] == 1


# --- the bulk path, re-runs, all or nothing, dry runs that write nothing --------------------------------


def _rows(path, table):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(f"{table}.csv").decode())))


def _registry_counts() -> dict[str, int]:
    from pdva.exports.tables import TABLES

    return {t.name: t.model._base_manager.count() for t in TABLES}


def test_import_writes_every_record_with_its_audit_entry_and_the_chain_verifies(
    cohort, manager, sam, tmp_path
):
    path = full_export(manager, tmp_path)
    wipe_registry()
    report = import_path(path, user=sam)
    assert report.ok and report.committed, report.as_csv()
    reason = f"import {report.sha256}"
    for model, table in ((Patient, "patients"), (Procedure, "procedures"), (FollowUpVisit, "followups")):
        entries = AuditEntry.objects.filter(
            action=f"registry.{model._meta.model_name}.created", reason=reason
        )
        ids = set(model._base_manager.values_list("id", flat=True))
        assert {int(e) for e in entries.values_list("object_id", flat=True)} == ids
        assert len(ids) == report.created[table] == len(_rows(path, table)) > 0
    assert AuditEntry.objects.filter(reason=reason).count() == sum(report.created.values()) + 1  # + the batch
    assert verify_chain() == AuditEntry.objects.count()
    batch = ImportBatch.objects.get()
    assert (batch.sha256, batch.imported_by, batch.created) == (report.sha256, sam, report.created)
    assert batch.site.ods_code == cohort[0].ods_code  # the export is one site's


def test_the_same_file_is_refused_a_second_time_naming_who_loaded_it_and_when(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    wipe_registry()
    assert import_path(path, user=sam).committed
    counts, entries = _registry_counts(), AuditEntry.objects.count()
    for dry_run in (True, False):
        with pytest.raises(ImportRefused, match=r"already imported on .* by sam") as refused:
            import_path(path, user=sam, dry_run=dry_run)
        assert f"{sum(counts.values()):,} records" in str(refused.value)
    with pytest.raises(CommandError, match="already imported"):
        call_command("import", str(path), "--user", sam.username)
    assert _registry_counts() == counts and AuditEntry.objects.count() == entries


def test_a_bad_line_in_the_middle_saves_nothing_and_the_error_names_the_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    proms = _rows(path, "proms")
    middle = len(proms) // 2
    visits = _rows(path, "followups")
    mid_visit = len(visits) // 2

    def bad_date(rows):  # type: ignore[no-untyped-def]
        rows[middle]["completed_date"] = "2025-02-30"

    def before_procedure(rows):  # type: ignore[no-untyped-def]
        rows[mid_visit]["visit_date"] = "1990-01-01"  # a rule of the model, checked as the rows are written

    for table, damage, line, name, words in (
        ("proms", bad_date, middle + 2, "completed_date", "invalid date"),
        ("followups", before_procedure, mid_visit + 2, "visit_date", "before the index procedure"),
    ):
        bad = rewrite_export(path, tmp_path / f"bad-{table}.zip", {table: damage})
        wipe_registry()
        entries = AuditEntry.objects.count()
        report = import_path(bad, user=sam)
        assert not report.committed
        assert [(p.file, p.row, p.field) for p in report.problems] == [(f"{table}.csv", line, name)]
        assert words in report.problems[0].problem
        # Every table before the bad one had been written in the import's transaction: all rolled back.
        assert not any(_registry_counts().values())
        assert AuditEntry.objects.count() == entries and not ImportBatch.objects.exists()
    # A failed import leaves no batch: the same file can be run again (and fails the same way).
    assert not import_path(bad, user=sam).committed
    assert import_path(path, user=sam).committed


def test_a_dry_run_writes_nothing_and_finds_what_the_real_run_finds(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    procedures = _rows(path, "procedures")
    deaths = _rows(path, "deaths")
    visits = _rows(path, "followups")
    assert deaths and len({p["patient"] for p in procedures}) > 1
    dead = deaths[0]["patient"]
    other_procedure = next(p["uuid"] for p in procedures if p["patient"] != dead)
    last_visit = max(
        (v for v in visits if any(p["uuid"] == v["procedure"] and p["patient"] == dead for p in procedures)),
        key=lambda v: v["visit_date"],
        default=None,
    )
    assert last_visit is not None and last_visit["alive"] != "no"

    def death_before_a_visit(rows):  # type: ignore[no-untyped-def]
        day = dt.date.fromisoformat(last_visit["visit_date"]) - dt.timedelta(days=1)
        rows[0]["date_of_death"] = day.isoformat()

    def prom_of_another_patients_procedure(rows):  # type: ignore[no-untyped-def]
        row = next(r for r in rows if r["patient"] == dead)
        row["procedure"], row["visit"] = other_procedure, ""

    bad = rewrite_export(path, tmp_path / "step1.zip", {"deaths": death_before_a_visit})
    bad = rewrite_export(bad, tmp_path / "bad.zip", {"proms": prom_of_another_patients_procedure})
    wipe_registry()
    entries = AuditEntry.objects.count()
    dry = import_path(bad, user=sam, dry_run=True)
    assert not any(_registry_counts().values()) and AuditEntry.objects.count() == entries
    assert not ImportBatch.objects.exists()
    real = import_path(bad, user=sam)
    found = {(p.file, p.field) for p in real.problems}
    assert found == {("deaths.csv", "date_of_death"), ("proms.csv", "procedure")}, real.as_csv()
    assert [(p.file, p.row, p.field, p.problem) for p in dry.problems] == [
        (p.file, p.row, p.field, p.problem) for p in real.problems
    ]
    assert not any(_registry_counts().values())


def test_a_uuid_twice_in_the_file_is_reported_on_its_second_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)

    def repeat(rows):  # type: ignore[no-untyped-def]
        rows[3]["uuid"] = rows[1]["uuid"]

    bad = rewrite_export(path, tmp_path / "twice.zip", {"medications": repeat})
    wipe_registry()
    report = import_path(bad, user=sam, dry_run=True)
    assert [(p.file, p.row, p.field) for p in report.problems] == [("medications.csv", 5, "uuid")]
    assert "appears twice" in report.problems[0].problem


def test_records_are_looked_up_per_chunk_not_per_row(cohort, manager, sam, tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    path = full_export(manager, tmp_path)
    wipe_registry()
    with CaptureQueriesContext(connection) as queries:
        report = import_path(path, user=sam, dry_run=True)
    rows = sum(report.created.values())
    assert report.ok and rows > 200
    # A few lookups per table (uuids already here, user names, ...), none per row.
    assert len(queries) < 60, [q["sql"][:80] for q in queries.captured_queries]


def test_progress_counts_every_row_of_the_file(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    wipe_registry()
    calls: list[tuple[int, int]] = []
    report = import_path(
        path, user=sam, dry_run=True, progress=lambda done, total: calls.append((done, total))
    )
    with zipfile.ZipFile(path) as zf:
        total = sum(json.loads(zf.read("manifest.json"))["tables"].values())
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert sum(report.created.values()) + sum(report.reused.values()) == total


def test_a_data_manager_cannot_reach_records_of_another_site_through_a_file(cohort, manager, tmp_path):
    """The file names the manager's own site, but one visit points at a procedure of the other site."""
    theirs = Procedure.objects.filter(patient__site=cohort[1]).first()
    assert theirs is not None
    path = full_export(manager, tmp_path)
    wipe_ours = tmp_path / "dir"
    wipe_ours.mkdir()
    with zipfile.ZipFile(path) as zf:
        patients = list(csv.DictReader(io.StringIO(zf.read("patients.csv").decode())))
        visits = list(csv.DictReader(io.StringIO(zf.read("followups.csv").decode())))
    patient = dict(patients[0], uuid=str(uuid.uuid4()), registry_id="PD-NEW1-NEW1")
    visit = dict(visits[0], uuid=str(uuid.uuid4()), procedure=str(theirs.uuid))
    for name, rows in (("patients", [patient]), ("followups", [visit])):
        with open(wipe_ours / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    report = import_path(wipe_ours, user=manager, dry_run=True)
    assert [(p.file, p.row, p.field) for p in report.problems] == [("followups.csv", 2, "procedure")]
    assert f"at site {cohort[1].ods_code}" in report.problems[0].problem
