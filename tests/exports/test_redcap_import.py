"""REDCap import: a REDCap export of the registry imports into an empty registry with the same clinical content
(for the fields REDCap carries); bad files are reported by file, row and field and change nothing."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.exports import lib, redcap, research
from pdva.exports.importer import ImportRefused, import_path
from pdva.exports.models import ImportBatch
from pdva.exports.redcap_import import RedcapOptions
from pdva.exports.services import run_export
from pdva.registry.models import FollowUpVisit, Patient, Procedure, PromAdministration
from tests.exports.conftest import wipe_registry
from tests.factories import OperatorFactory, SiteFactory

KEY, KEY2 = bytes(range(32)), bytes(range(32, 64))
# Not restorable from REDCap: the age needs the date of birth, the duration the procedure times, and
# operators are pseudonyms (the import records the operator it is told to).
NOT_CARRIED = {
    "proc_age_at_procedure",
    "proc_duration_minutes",
    "proc_operator_id",
    "proc_second_operator_id",
}


def _export(user, tmp_path, name, key):  # type: ignore[no-untyped-def]
    with audit_context(user):
        return run_export("redcap", user, tmp_path / name, key=key)


def _rows(path) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.StringIO(zf.read("redcap_data.csv").decode())))


def _pseudonym_columns(header: list[str]) -> set[str]:
    fields = redcap.fields(research.plan().tables)
    return {f.name for f in fields if f.column.transform == "pseudonym"} & set(header)


def canonical(path, key, sites: dict[int, str]) -> Counter:  # type: ignore[no-untyped-def]
    """Each patient's rows with pseudonyms replaced by their order of appearance within the patient (sites by
    their ODS code), as a multiset of patients: equal when the clinical content is the same."""
    rows = _rows(path)
    pseudo = lib.Pseudonymiser(key)
    site_codes = {pseudo("site", pk): code for pk, code in sites.items()}
    links = _pseudonym_columns(list(rows[0]))
    by_record: dict[str, list[tuple]] = {}
    ordinals: dict[str, dict[str, int]] = {}
    for row in rows:
        record = row["record_id"]
        seen = ordinals.setdefault(record, {})
        cells = []
        for name, value in row.items():
            if name in NOT_CARRIED or name == "record_id":
                continue
            if name == "pt_site_id" and value:
                value = site_codes[value]
            elif name in links and value:
                value = f"#{seen.setdefault(value, len(seen))}"
            cells.append((name, value))
        by_record.setdefault(record, []).append(tuple(cells))
    return Counter(tuple(sorted(rows)) for rows in by_record.values())


def _fresh_sites(cohort) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """Empty the registry and create the same sites (new ids), each with one operator 'IMP'."""
    codes = [s.ods_code for s in cohort]
    wipe_registry()
    created = {}
    for code in codes:
        site = SiteFactory(ods_code=code)
        OperatorFactory(site=site, code="IMP")
        created[site.pk] = code
    return created


def _options(cohort, key=KEY) -> RedcapOptions:  # type: ignore[no-untyped-def]
    pseudo = lib.Pseudonymiser(key)
    return RedcapOptions(sites={pseudo("site", s.pk): s.ods_code for s in cohort}, operator="IMP")


def test_redcap_export_round_trips_into_an_empty_registry(cohort, rita, sam, tmp_path):
    original_sites = {s.pk: s.ods_code for s in cohort}
    first = _export(rita, tmp_path, "first.zip", KEY)
    before = canonical(first.path, KEY, original_sites)
    options = _options(cohort)
    new_sites = _fresh_sites(cohort)
    assert not Patient.objects.exists()

    report = import_path(first.path, user=sam, redcap=options)
    assert report.ok, report.as_csv()
    assert report.committed
    assert report.created["patients"] == first.manifest["tables"]["patients"]
    assert report.created["followups"] == first.manifest["tables"]["followups"] > 0
    assert report.created["proms"] == first.manifest["tables"]["proms"] > 0
    assert Procedure.objects.filter(operator__code="IMP").count() == Procedure.objects.count() > 0
    assert (
        AuditEntry.objects.filter(
            action="registry.followupvisit.created", reason=f"import {report.sha256}"
        ).count()
        == FollowUpVisit.objects.count()
    )

    second = _export(rita, tmp_path, "second.zip", KEY2)
    after = canonical(second.path, KEY2, new_sites)
    assert sum(before.values()) == first.manifest["tables"]["patients"]
    assert after == before
    # Derived values were recomputed from what REDCap carries, and agree (they are compared above).
    assert PromAdministration.objects.exclude(responses={}).exists()


def test_dry_run_reports_by_file_row_and_field_and_changes_nothing(cohort, rita, sam, tmp_path):
    export = _export(rita, tmp_path, "r.zip", KEY)
    options = _options(cohort)
    rows = _rows(export.path)
    header = list(rows[0])
    visits = [n for n, r in enumerate(rows) if r["redcap_repeat_instrument"] == "followup"]
    procedures = [n for n, r in enumerate(rows) if r["redcap_repeat_instrument"] == "procedure"]
    rows[visits[0]]["fu_circuit_patency"] = "wobbly"
    rows[visits[1]]["fu_visit_day"] = "soon"
    rows[visits[2]]["fu_procedure_id"] = "ffffffffffffffff"
    checkbox = next(name for name in header if name.startswith("proc_arterial_access___"))
    rows[procedures[0]][checkbox] = "2"
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(export.path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "redcap_data.csv":
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=[*header, "unexpected"], lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
                data = buffer.getvalue().encode()
            zout.writestr(name, data)
    new_sites = _fresh_sites(cohort)
    assert new_sites
    report = import_path(bad, user=sam, redcap=options, dry_run=True)
    found = {(p.file, p.field) for p in report.problems}
    assert ("redcap_data.csv", "unexpected") in found
    assert not Patient.objects.exists()

    # Without the unknown column, the row problems are reported with their line numbers.
    with zipfile.ZipFile(bad) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    text = members["redcap_data.csv"].decode().splitlines()
    cleaned = "\n".join(line.rsplit(",", 1)[0] for line in text) + "\n"
    members["redcap_data.csv"] = cleaned.encode()
    fixed = tmp_path / "rows.zip"
    with zipfile.ZipFile(fixed, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    report = import_path(fixed, user=sam, redcap=options)
    assert not report.ok and not report.committed
    problems = {(p.row, p.field): p.problem for p in report.problems}
    assert "wobbly" in problems[(visits[0] + 2, "fu_circuit_patency")]
    assert "whole number of days" in problems[(visits[1] + 2, "fu_visit_day")]
    assert "not a valid record" in problems[(visits[2] + 2, "fu_procedure_id")]
    assert "0 or 1" in problems[(procedures[0] + 2, "proc_arterial_access")]
    assert not Patient.objects.exists() and not Procedure.objects.exists()
    assert "redcap_data.csv" in report.as_csv()


def test_redcap_import_needs_sites_and_rights(cohort, rita, sam, alice, tmp_path):
    export = _export(rita, tmp_path, "r.zip", KEY)
    patients = Patient.objects.count()
    with pytest.raises(ValueError, match="REDCap"):
        import_path(export.path, user=sam)
    options = _options(cohort)
    with pytest.raises(ImportRefused):
        import_path(export.path, user=alice, redcap=options, dry_run=True)
    unknown = RedcapOptions(sites={"*": "ZZZZ9"})
    report = import_path(export.path, user=sam, redcap=unknown, dry_run=True)
    assert any(p.field == "site" for p in report.problems)
    assert Patient.objects.count() == patients


def test_the_import_command_reads_a_redcap_export(cohort, rita, sam, tmp_path, capsys):
    export = _export(rita, tmp_path, "r.zip", KEY)
    options = _options(cohort)
    _fresh_sites(cohort)
    with pytest.raises(CommandError, match="--site"):
        call_command("import", str(export.path), "--user", sam.username)
    sites = [f"--site={pseudonym}={code}" for pseudonym, code in options.sites.items()]
    call_command("import", str(export.path), "--user", sam.username, *sites, "--operator", "IMP", "--dry-run")
    assert not Patient.objects.exists()
    call_command("import", str(export.path), "--user", sam.username, *sites, "--operator", "IMP")
    assert Patient.objects.count() == export.manifest["tables"]["patients"]
    assert "imported" in capsys.readouterr().out


def _rewrite_data(src, dst, edit):  # type: ignore[no-untyped-def]
    rows = _rows(src)
    header = list(rows[0])
    edit(rows)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "redcap_data.csv":
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
                data = buffer.getvalue().encode()
            zout.writestr(name, data)
    return dst


def test_a_redcap_import_is_audited_record_by_record_and_refused_a_second_time(cohort, rita, sam, tmp_path):
    export = _export(rita, tmp_path, "r.zip", KEY)
    options = _options(cohort)
    _fresh_sites(cohort)
    entries = AuditEntry.objects.count()
    report = import_path(export.path, user=sam, redcap=options)
    assert report.committed, report.as_csv()
    records = sum(report.created.values())
    assert AuditEntry.objects.filter(reason=f"import {report.sha256}").count() == records + 1  # + the batch
    assert AuditEntry.objects.count() == entries + records + 1
    assert verify_chain() == AuditEntry.objects.count()
    batch = ImportBatch.objects.get(sha256=report.sha256)
    assert batch.kind == "redcap" and batch.imported_by == sam and batch.site is None  # two sites
    # REDCap records carry no uuids: only the batch stops the same file from loading twice.
    patients = Patient.objects.count()
    with pytest.raises(ImportRefused, match="already imported .* by sam"):
        import_path(export.path, user=sam, redcap=options)
    assert Patient.objects.count() == patients and AuditEntry.objects.count() == entries + records + 1


def test_a_bad_redcap_line_in_the_middle_saves_nothing_and_is_named(cohort, rita, sam, tmp_path):
    export = _export(rita, tmp_path, "r.zip", KEY)
    options = _options(cohort)
    rows = _rows(export.path)
    visits = [n for n, r in enumerate(rows) if r["redcap_repeat_instrument"] == "followup"]
    middle = visits[len(visits) // 2]

    def before_the_procedure(rows):  # type: ignore[no-untyped-def]
        rows[middle]["fu_visit_day"] = "-4000"

    bad = _rewrite_data(export.path, tmp_path / "bad.zip", before_the_procedure)
    _fresh_sites(cohort)
    entries = AuditEntry.objects.count()
    dry = import_path(bad, user=sam, redcap=options, dry_run=True)
    assert AuditEntry.objects.count() == entries and not Patient.objects.exists()
    report = import_path(bad, user=sam, redcap=options)
    assert not report.committed
    assert [(p.row, p.field) for p in report.problems] == [(middle + 2, "fu_visit_day")]
    assert "before the index procedure" in report.problems[0].problem
    assert [(p.row, p.field, p.problem) for p in dry.problems] == [
        (p.row, p.field, p.problem) for p in report.problems
    ]
    # Patients and procedures had been written before the bad visit: all rolled back, nothing audited.
    assert not Patient.objects.exists() and not Procedure.objects.exists()
    assert AuditEntry.objects.count() == entries and not ImportBatch.objects.exists()
