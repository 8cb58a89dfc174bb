"""Imports: dry runs change nothing, bad rows are reported by file, row and field, real runs are all-or-nothing."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.management import CommandError, call_command

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.exports.importer import ImportRefused, import_path
from pdva.exports.services import run_export
from pdva.registry.models import FollowUpVisit, Patient, Procedure
from tests.exports.conftest import wipe_registry


def _full(manager, tmp_path):  # type: ignore[no-untyped-def]
    with audit_context(manager):
        return run_export("full", manager, tmp_path / "full.zip").path


def _rewrite(src, dst, table, edit):  # type: ignore[no-untyped-def]
    """Copy a full export, changing rows of one table with ``edit(rows)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == f"{table}.csv":
                rows = list(csv.DictReader(io.StringIO(data.decode())))
                header = list(rows[0])
                edit(rows)
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
                data = buffer.getvalue().encode()
            zout.writestr(name, data)
    return dst


def test_dry_run_reports_and_changes_nothing(cohort, manager, sam, tmp_path):
    path = _full(manager, tmp_path)
    wipe_registry()
    entries = AuditEntry.objects.count()
    report = import_path(path, user=sam, dry_run=True)
    assert report.ok and not report.committed
    assert report.created["patients"] > 0
    assert not Patient.objects.exists()
    assert AuditEntry.objects.count() == entries


def test_bad_rows_are_reported_with_file_row_and_field_and_nothing_is_saved(cohort, manager, sam, tmp_path):
    path = _full(manager, tmp_path)

    def damage(rows):  # type: ignore[no-untyped-def]
        rows[0]["circuit_patency"] = "wobbly"
        rows[1]["visit_date"] = "2024-13-45"
        rows[2]["visit_date"] = "1990-01-01"  # before the index procedure: the model's own rule

    bad = _rewrite(path, tmp_path / "bad.zip", "followups", damage)
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
    path = _full(manager, tmp_path)
    report = import_path(path, user=sam)
    assert not report.ok
    assert any("already in the registry" in p.problem for p in report.problems)


def test_only_admins_or_data_managers_of_every_site_in_the_file_may_import(
    cohort, manager, alice, rita, tmp_path
):
    path = _full(manager, tmp_path)
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
    path = _full(manager, tmp_path)
    with zipfile.ZipFile(path) as zf:
        (tmp_path / "sites.csv").write_bytes(zf.read("sites.csv"))
    wipe_registry()
    report = import_path(tmp_path / "sites.csv", user=sam)
    assert report.ok and report.created["sites"] == 1
