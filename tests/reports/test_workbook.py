"""NICE outcomes-audit workbook: per-patient statuses and a summary that adds up."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from pdva.registry.models import PatientIdentity, Procedure
from pdva.reports.services.workbook import LAYOUT_NOTE, build_workbook
from tests.reports.conftest import CUTOFF

STATUSES = {"occurred", "not occurred", "not known", "no wound at baseline"}


def test_workbook_rows_statuses_and_summary(cohort):  # type: ignore[no-untyped-def]
    site = cohort[0]
    wb = load_workbook(io.BytesIO(build_workbook(site, cutoff=CUTOFF)))
    assert wb.sheetnames == ["About", "Patients", "Summary"]
    about = " ".join(str(c.value) for row in wb["About"].iter_rows() for c in row if c.value)
    assert "official interventional procedure outcomes audit tool" in about and LAYOUT_NOTE[:40] in about
    rows = list(wb["Patients"].iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert len(data) == Procedure.objects.filter(patient__site=site, procedure_date__lte=CUTOFF).count()
    outcome_cols = [i for i, h in enumerate(header) if " | " in h]
    assert {
        "Major amputation | 12 months",
        "Steal syndrome | 30 days",
        "Quality of life improvement | 6 months",
    } <= set(header)
    assert all(r[i] in STATUSES for r in data for i in outcome_cols)
    nhs = {i.nhs_number for i in PatientIdentity.objects.filter(patient__site=site)}
    assert not any(str(v) in nhs for r in data for v in r)  # registry IDs only
    summary = {(r[0], r[2]): r for r in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    col = header.index("Major amputation | 12 months")
    occurred = sum(1 for r in data if r[col] == "occurred")
    assert summary[("Major amputation", "12 months")][3] == occurred
