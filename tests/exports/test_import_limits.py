"""Text limits and what the CSV reader can read: every text field has one limit (from its model field) that
forms, model checks and imports enforce; the importer reads any cell the registry itself can hold; a cell
over the reader's limit, or a file that is not UTF-8, is a problem naming the file and line (and for an
encoding error the column and byte offset), never a traceback, and nothing is written."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from pdva.capture.forms.records import AdverseEventForm, VisitForm
from pdva.capture.models import DataQuery
from pdva.exports.import_base import CELL_LIMIT, first_undecodable
from pdva.exports.importer import import_path
from pdva.exports.tables import TABLES
from pdva.registry.models import AdverseEvent, FollowUpVisit, Procedure, SiteGovernance
from pdva.registry.models.base import NOTES_MAX_LENGTH, SHORT_TEXT_MAX_LENGTH
from tests.exports.conftest import full_export, rewrite_export, wipe_registry


def _counts() -> dict[str, int]:
    return {t.name: t.model._base_manager.count() for t in TABLES}


# --- one limit per field, from the model ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "name", "limit"),
    [
        (FollowUpVisit, "notes", NOTES_MAX_LENGTH),
        (Procedure, "notes", NOTES_MAX_LENGTH),
        (AdverseEvent, "description", NOTES_MAX_LENGTH),
        (AdverseEvent, "treatment", NOTES_MAX_LENGTH),
        (SiteGovernance, "notes", NOTES_MAX_LENGTH),
        (DataQuery, "question", SHORT_TEXT_MAX_LENGTH),
    ],
)
def test_text_fields_carry_a_limit_their_model_checks_enforce(model, name, limit):
    f = model._meta.get_field(name)
    assert f.max_length == limit
    f.run_validators("x" * limit)
    with pytest.raises(ValidationError, match=f"at most {limit}"):
        f.run_validators("x" * (limit + 1))


@pytest.mark.parametrize(("form_class", "name"), [(VisitForm, "notes"), (AdverseEventForm, "description")])
def test_forms_take_the_limit_from_the_model(form_class, name):
    form = form_class()
    assert form.fields[name].max_length == NOTES_MAX_LENGTH
    assert form.fields[name].widget.attrs["maxlength"] == str(NOTES_MAX_LENGTH)
    bound = form_class(data={f"{form.prefix}-{name}": "x" * (NOTES_MAX_LENGTH + 1)})
    bound.is_valid()
    assert name in bound.errors and "at most 10000" in bound.errors[name][0]


# --- the importer ---------------------------------------------------------------------------------------


def _long_note(rows, length):  # type: ignore[no-untyped-def]
    rows[1]["notes"] = "n" * length


def test_a_note_at_the_limit_round_trips_and_one_over_is_refused_on_its_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    at_limit = rewrite_export(
        path, tmp_path / "ok.zip", {"followups": lambda r: _long_note(r, NOTES_MAX_LENGTH)}
    )
    over = rewrite_export(path, tmp_path / "over.zip", {"followups": lambda r: _long_note(r, 200_000)})
    wipe_registry()
    report = import_path(over, user=sam)
    assert not report.committed
    assert [(p.file, p.row, p.field) for p in report.problems] == [("followups.csv", 3, "notes")]
    assert "at most 10000 characters" in report.problems[0].problem
    assert not any(_counts().values())
    report = import_path(at_limit, user=sam)
    assert report.ok and report.committed, report.as_csv()
    assert FollowUpVisit.objects.filter(notes="n" * NOTES_MAX_LENGTH).count() == 1


def test_cells_over_the_old_reader_limit_are_read(cohort, manager, sam, tmp_path):
    """131,072 was the csv module's default: a longer cell (here a JSON cell of PROM responses padded with
    spaces, which the registry may hold) is read, not a crash."""
    path = full_export(manager, tmp_path)

    def pad(rows):  # type: ignore[no-untyped-def]
        rows[0]["responses"] = rows[0]["responses"] + " " * 150_000

    padded = rewrite_export(path, tmp_path / "padded.zip", {"proms": pad})
    wipe_registry()
    report = import_path(padded, user=sam, dry_run=True)
    assert report.ok, report.as_csv()


def test_a_cell_over_the_reader_limit_is_a_problem_on_its_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    huge = rewrite_export(path, tmp_path / "huge.zip", {"followups": lambda r: _long_note(r, CELL_LIMIT + 1)})
    wipe_registry()
    report = import_path(huge, user=sam)
    assert not report.committed
    found = [p for p in report.problems if p.file == "followups.csv"]
    assert [p.row for p in found] == [3]
    assert f"longer than {CELL_LIMIT:,} characters" in found[0].problem
    assert not any(_counts().values())


# --- encodings --------------------------------------------------------------------------------------------


def test_first_undecodable_names_line_column_and_offset():
    data = "a,b\nné,x\n".encode() + b"ok,\xff\n"
    assert first_undecodable(io.BytesIO(data)) == (3, 4, len(data) - 2, "invalid start byte")
    assert first_undecodable(io.BytesIO("é".encode() * 700_000)) is None  # sequences across blocks
    assert first_undecodable(io.BytesIO(b"abc\n\xc3")) == (2, 1, 4, "unexpected end of data")


def _latin1_visits(path, dst):  # type: ignore[no-untyped-def]
    """The export with one followups line re-encoded as Latin-1 (an é that is not UTF-8)."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "followups.csv":
                lines = data.split(b"\n")
                lines[3] = lines[3].replace(b",", b",caf\xe9 ", 1)
                data = b"\n".join(lines)
            zout.writestr(name, data)
    return dst


def test_an_undecodable_file_is_reported_by_file_line_and_column_and_nothing_is_written(
    cohort, manager, sam, tmp_path, capsys
):
    path = full_export(manager, tmp_path)
    bad = _latin1_visits(path, tmp_path / "latin1.zip")
    with zipfile.ZipFile(bad) as zf:
        data = zf.read("followups.csv")
    offset = data.index(b"\xe9")
    column = offset - data.rindex(b"\n", 0, offset)
    wipe_registry()
    report = import_path(bad, user=sam)
    assert not report.committed
    assert [(p.file, p.row) for p in report.problems] == [("followups.csv", 4)]
    assert f"line 4, column {column} (byte offset {offset}" in report.problems[0].problem
    assert not any(_counts().values())
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("import", str(bad), "--user", sam.username)
    assert "followups.csv" in capsys.readouterr().err
    assert not any(_counts().values())


def test_an_undecodable_dictionary_csv_in_a_folder_is_reported(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    folder = tmp_path / "csvs"
    folder.mkdir()
    with zipfile.ZipFile(path) as zf:
        (folder / "sites.csv").write_bytes(zf.read("sites.csv").replace(b"(synthetic)", b"(synth\x92tic)"))
    wipe_registry()
    report = import_path(folder, user=sam)
    assert not report.ok and [(p.file, p.row) for p in report.problems] == [("sites.csv", 2)]
    assert not any(_counts().values())


def test_an_undecodable_redcap_file_is_reported(cohort, nora, manager, sam, tmp_path):
    from pdva.audit.context import audit_context
    from pdva.exports.redcap_import import RedcapOptions
    from pdva.exports.services import run_export

    with audit_context(nora):
        export = run_export("redcap", nora, tmp_path / "redcap.zip")
    bad = tmp_path / "bad-redcap.zip"
    with zipfile.ZipFile(export.path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "redcap_data.csv":
                rows = data.split(b"\n")
                rows[2] = b"\xff" + rows[2]
                data = b"\n".join(rows)
            zout.writestr(name, data)
    counts = _counts()
    report = import_path(bad, user=sam, redcap=RedcapOptions(sites={"*": cohort[0].ods_code}))
    assert not report.committed
    assert [(p.file, p.row) for p in report.problems] == [("redcap_data.csv", 3)]
    assert "column 1 (byte offset" in report.problems[0].problem
    assert _counts() == counts


def test_report_csv_rows_name_the_line(cohort, manager, sam, tmp_path):
    path = full_export(manager, tmp_path)
    over = rewrite_export(
        path, tmp_path / "over.zip", {"followups": lambda r: _long_note(r, NOTES_MAX_LENGTH + 1)}
    )
    wipe_registry()
    rows = list(csv.reader(io.StringIO(import_path(over, user=sam, dry_run=True).as_csv())))
    assert ["error", "followups.csv", "3", "notes"] == rows[1][:4]
