"""The import's fast paths check what the slow ones did: remembered cell values, stand-ins for parents, and
the collector turned off while it runs."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import zipfile

import pytest

from pdva.exports.import_base import MEMO_SIZE, remembering_parser
from pdva.exports.importer import import_path
from pdva.registry import models as m
from tests.exports.conftest import full_export, rewrite_export, wipe_registry


def test_a_bad_value_repeated_on_many_lines_is_reported_on_every_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)

    def damage(rows):  # type: ignore[no-untyped-def]
        for row in rows[:3]:
            row["circuit_patency"] = "wobbly"  # the same bad text three times: never remembered as good
        rows[5]["circuit_patency"] = rows[4]["circuit_patency"] = "patent"

    bad = rewrite_export(path, tmp_path / "bad.zip", {"followups": damage})
    wipe_registry()
    report = import_path(bad, user=sam, dry_run=True)
    assert [(p.file, p.row, p.field) for p in report.problems] == [
        ("followups.csv", line, "circuit_patency") for line in (2, 3, 4)
    ]
    assert all("wobbly" in p.problem for p in report.problems)


def test_a_remembered_value_is_what_parsing_gives_and_errors_are_raised_each_time():
    field = m.FollowUpVisit._meta.get_field("visit_date")
    memo, parse = remembering_parser(field, strip=True)
    assert parse(" 2024-02-29") == dt.date(2024, 2, 29)
    assert memo == {" 2024-02-29": dt.date(2024, 2, 29)}  # keyed by the cell as read
    for _ in range(2):
        with pytest.raises(Exception, match="invalid date"):
            parse("2025-02-30")
    assert "2025-02-30" not in memo
    for day in range(MEMO_SIZE + 10):
        parse((dt.date(2000, 1, 1) + dt.timedelta(days=day)).isoformat())
    assert len(memo) == MEMO_SIZE  # bounded: later values are parsed every time, not kept


def test_each_record_gets_its_own_json_value():
    field = m.PromAdministration._meta.get_field("responses")
    memo, parse = remembering_parser(field, strip=True)
    first, second = parse('{"MO": 1, "SC": 2}'), parse('{"MO": 1, "SC": 2}')
    assert first == second == {"MO": 1, "SC": 2} and first is not second
    second["MO"] = 5
    assert parse('{"MO": 1, "SC": 2}') == {"MO": 1, "SC": 2}
    assert not memo  # never handed out as one shared object
    with pytest.raises(Exception, match="not valid JSON"):
        parse("{oops")


def test_a_procedure_before_the_patients_birth_is_found_from_the_file_s_identity(
    cohort, manager, sam, tmp_path
):
    """The patient's date of birth reaches the procedure's check through the identity stand-in."""
    path = full_export(manager, tmp_path)
    with zipfile.ZipFile(path) as zf:
        identities = list(csv.DictReader(io.StringIO(zf.read("patient_identities.csv").decode())))
        procedures = list(csv.DictReader(io.StringIO(zf.read("procedures.csv").decode())))
    born = {r["patient"]: dt.date.fromisoformat(r["date_of_birth"]) for r in identities if r["date_of_birth"]}
    line, target = next((n + 2, p) for n, p in enumerate(procedures) if p["patient"] in born)
    day = born[target["patient"]] - dt.timedelta(days=1)

    def before_birth(rows):  # type: ignore[no-untyped-def]
        row = rows[line - 2]
        row["procedure_date"] = row["admission_date"] = day.isoformat()
        row["discharge_date"] = ""

    bad = rewrite_export(path, tmp_path / "born.zip", {"procedures": before_birth})
    wipe_registry()
    for dry_run in (True, False):
        report = import_path(bad, user=sam, dry_run=dry_run)
        assert ("procedures.csv", line, "procedure_date") in {
            (p.file, p.row, p.field) for p in report.problems
        }
        assert "date of birth" in report.as_csv()
        assert not m.Procedure.objects.exists()


def test_ages_are_derived_from_the_imported_dates_of_birth(cohort, manager, sam, tmp_path):
    ages = dict(m.Procedure.objects.filter(patient__site=cohort[0]).values_list("uuid", "age_at_procedure"))
    assert any(age is not None for age in ages.values())
    path = full_export(manager, tmp_path)
    wipe_registry()
    assert import_path(path, user=sam).committed
    assert dict(m.Procedure.objects.values_list("uuid", "age_at_procedure")) == ages


def test_the_collector_is_back_on_after_an_import_even_a_failed_one(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    wipe_registry()
    assert gc.isenabled()
    assert import_path(path, user=sam, dry_run=True).ok
    assert gc.isenabled() and gc.get_freeze_count() == 0
    stray = tmp_path / "not_a_table.csv"
    stray.write_text("uuid\n", encoding="utf-8")
    with pytest.raises(ValueError, match="name a CSV after its table"):
        import_path(stray, user=sam, dry_run=True)
    assert gc.isenabled() and gc.get_freeze_count() == 0


# --- the registry's date and range rules (pdva.registry.rules), the same as the forms' ----------------------


def _identity_dobs(path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        rows = csv.DictReader(io.StringIO(zf.read("patient_identities.csv").decode()))
        return {r["patient"]: r["date_of_birth"] for r in rows}


def test_a_death_before_birth_is_refused_on_its_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    dobs = _identity_dobs(path)

    def before_birth(rows):  # type: ignore[no-untyped-def]
        row = rows[0]
        row["date_of_death"] = (
            dt.date.fromisoformat(dobs[row["patient"]]) - dt.timedelta(days=1)
        ).isoformat()

    bad = rewrite_export(path, tmp_path / "bad.zip", {"deaths": before_birth})
    wipe_registry()
    report = import_path(bad, user=sam, dry_run=True)
    assert [(p.file, p.row, p.field) for p in report.problems] == [("deaths.csv", 2, "date_of_death")]
    assert "before the patient's date of birth" in report.problems[0].problem


def test_a_death_before_birth_of_a_patient_already_here_is_refused(cohort, manager, sam, tmp_path):
    """The date of birth comes from the registry's identity (decrypted once for the chunk's patients)."""
    path = full_export(manager, tmp_path)
    dobs = _identity_dobs(path)
    with zipfile.ZipFile(path) as zf:
        deaths = list(csv.DictReader(io.StringIO(zf.read("deaths.csv").decode())))
    dead = {d["patient"] for d in deaths}
    alive = next(p for p in sorted(dobs) if p not in dead and dobs[p])
    row = dict(deaths[0], uuid="", patient=alive)
    row["date_of_death"] = (dt.date.fromisoformat(dobs[alive]) - dt.timedelta(days=1)).isoformat()
    folder = tmp_path / "in"
    folder.mkdir()
    with open(folder / "deaths.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(row), lineterminator="\n")
        writer.writeheader()
        writer.writerow(row)
    report = import_path(folder / "deaths.csv", user=sam, dry_run=True)
    assert [(p.file, p.row, p.field) for p in report.problems] == [("deaths.csv", 2, "date_of_death")]
    assert "before the patient's date of birth" in report.problems[0].problem


def test_a_negative_wound_area_is_refused_on_its_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)

    def negative(rows):  # type: ignore[no-untyped-def]
        rows[2]["wound_area_total_cm2"] = "-1.5"
        rows[3]["wound_area_total_cm2"] = "0.0"

    bad = rewrite_export(path, tmp_path / "bad.zip", {"followups": negative})
    wipe_registry()
    report = import_path(bad, user=sam, dry_run=True)
    assert [(p.file, p.row, p.field) for p in report.problems] == [
        ("followups.csv", 4, "wound_area_total_cm2")
    ]
    assert "not negative" in report.problems[0].problem
