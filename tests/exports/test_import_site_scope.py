"""Every reference in an import resolves only inside the importing user's sites: a data manager at one site
cannot attach deaths, visits, events ... to another site's patients or procedures. The report names each
row (file, line) that points elsewhere, and nothing is written."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile

import pytest

from pdva.audit.models import AuditEntry
from pdva.exports.importer import import_path
from pdva.exports.tables import TABLES
from tests.exports.conftest import full_export
from tests.factories import UserFactory, grant

# Every table whose rows point at a patient, procedure, visit or reintervention.
REFERRING = [t.name for t in TABLES if t.patient_path is not None and t.name != "patients"]


@pytest.fixture
def other_manager(cohort):  # type: ignore[no-untyped-def]
    """Data manager at the second synthetic site only."""
    user = UserFactory(username="dm-other")
    grant(user, "site_data_manager", cohort[1])
    return user


def _table(path, name):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(f"{name}.csv").decode())))


def _write(path, rows):  # type: ignore[no-untyped-def]
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _counts() -> dict[str, int]:
    return {t.name: t.model._base_manager.count() for t in TABLES}


@pytest.mark.parametrize("table", REFERRING)
def test_rows_pointing_at_another_sites_records_are_refused_by_line(
    table, cohort, manager, other_manager, tmp_path
):
    export = full_export(manager, tmp_path)  # site A's records, as its data manager sees them
    rows = _table(export, table)[:3]
    assert rows, f"the synthetic cohort has no {table}"
    for row in rows:
        if "uuid" in row:
            row["uuid"] = str(uuid.uuid4())  # new records, pointing at site A's existing ones
    folder = tmp_path / "in"
    folder.mkdir()
    site_b = next(r for r in _table(full_export(other_manager, tmp_path / "b"), "sites"))
    _write(folder / "sites.csv", [site_b])
    _write(folder / f"{table}.csv", rows)
    counts, entries = _counts(), AuditEntry.objects.count()

    report = import_path(folder, user=other_manager)

    assert not report.ok and not report.committed
    refused = {
        p.row
        for p in report.problems
        if p.file == f"{table}.csv" and f"at site {cohort[0].ods_code}, where you may not import" in p.problem
    }
    assert refused == set(range(2, 2 + len(rows))), report.as_csv()
    assert _counts() == counts and AuditEntry.objects.count() == entries


def test_the_same_rows_import_for_a_manager_of_that_site_dry_run(cohort, manager, tmp_path):
    """Control: the refusal above is the site rule, not something else wrong with the rows."""
    export = full_export(manager, tmp_path)
    rows = _table(export, "adverse_events")[:3]
    for row in rows:
        row["uuid"] = str(uuid.uuid4())
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "sites.csv", _table(export, "sites"))
    _write(folder / "adverse_events.csv", rows)
    report = import_path(folder, user=manager, dry_run=True)
    assert report.ok, report.as_csv()
    assert report.created["adverse_events"] == len(rows)
