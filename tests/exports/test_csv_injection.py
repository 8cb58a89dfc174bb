"""CSV/formula injection: every text cell a spreadsheet would evaluate leaves the exports with a leading
single quote (OWASP rule), numbers stay numbers, and the rule is reversible so imports read the text back."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal

import pytest

from pdva.audit.context import audit_context
from pdva.exports import lib
from pdva.exports.import_base import ImportReport
from pdva.exports.services import run_export
from pdva.registry.models import Medication, Procedure

ATTACKS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "'already quoted"]


@pytest.mark.parametrize("text", ATTACKS)
def test_a_cell_a_spreadsheet_would_evaluate_gets_one_quote_and_comes_back(text):
    cell = lib.neutralise_cell(text)
    assert cell == "'" + text
    assert lib.restore_cell(cell) == text


@pytest.mark.parametrize("value", ["plain", "", "a=b", "1-2", "x'", None, -1.5, Decimal("-3.25"), -4])
def test_other_cells_are_left_alone_and_restore_is_the_identity_on_them(value):
    assert lib.neutralise_cell(value) == value
    if isinstance(value, str):
        assert lib.restore_cell(lib.neutralise_cell(value)) == value


def test_restore_takes_off_only_the_quote_the_rule_adds():
    assert lib.restore_cell("'plain") == "'plain"  # a quote the rule never adds stays
    assert lib.restore_cell("''x") == "'x"
    assert lib.restore_cell("'") == "'"


def _member_rows(path, name):  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return list(csv.reader(io.StringIO(zf.read(name).decode())))


def _cells(path) -> list[str]:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return [
            cell
            for name in zf.namelist()
            if name.endswith(".csv")
            for row in csv.reader(io.StringIO(zf.read(name).decode()))
            for cell in row
        ]


@pytest.fixture
def planted(cohort):  # type: ignore[no-untyped-def]
    """Formula text in a coded research text field (a dm+d code) and a negative-looking dose unit."""
    med = Medication.objects.filter(patient__site=cohort[0]).order_by("pk").first()
    procedure = Procedure.objects.filter(patient__site=cohort[0]).order_by("pk").first()
    with audit_context(label="test", reason="formula text"):
        med.dmd_code = "=1+2"
        med.save()
        procedure.device_model = "@SUM(1)"
        procedure.save()
    return med


@pytest.mark.parametrize("kind", ["full", "research", "redcap"])
def test_no_export_cell_starts_with_a_formula_character(kind, planted, manager, nora, tmp_path):
    user = manager if kind == "full" else nora
    with audit_context(user):
        result = run_export(kind, user, tmp_path / f"{kind}.zip")
    cells = _cells(result.path)
    assert cells
    numeric = [c for c in cells if c.startswith("-")]
    for cell in numeric:  # the only cells left starting with "-" are numbers (negative days, values)
        float(cell)
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert "'=1+2" in cells
    if kind == "full":
        assert "'@SUM(1)" in cells


def test_negative_numbers_are_not_quoted(planted, nora, tmp_path):
    with audit_context(nora):
        result = run_export("research", nora, tmp_path / "r.zip")
    rows = _member_rows(result.path, "followups.csv")
    days = [row[rows[0].index("visit_day")] for row in rows[1:]]
    assert days and not any(d.startswith("'") for d in days)


def test_the_import_report_is_spreadsheet_safe():
    report = ImportReport(source="x", sha256="0" * 64, dry_run=True)
    report.add("deaths.csv", 2, "notes", '=HYPERLINK("http://evil.example") is not allowed')
    rows = list(csv.reader(io.StringIO(report.as_csv())))
    assert rows[1][4].startswith("'=HYPERLINK")
