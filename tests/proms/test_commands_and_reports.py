"""PROM commands (labels, rescore) and the completion / change-from-baseline summary."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pdva.audit.context import audit_context
from pdva.proms.models import InstrumentLabelSet, PromScore
from pdva.proms.services.reports import prom_summary
from pdva.proms.services.scoring import record_administration
from pdva.registry.models import PromAdministration
from tests.factories import PatientFactory, ProcedureFactory, VisitFactory, make_identity

PROC = dt.date(2025, 3, 10)


@pytest.mark.django_db
def test_load_labels_command_validates_codes(site_a, tmp_path) -> None:
    path = tmp_path / "nrs.json"
    path.write_text(json.dumps({"NRS": {"text": "Licensed pain question"}}))
    call_command(
        "proms",
        "load-labels",
        str(path),
        "--instrument",
        "pain_nrs",
        "--licence",
        "local permission 1",
        "--site",
        "AAA",
    )
    assert InstrumentLabelSet.objects.get().site == site_a
    path.write_text(json.dumps({"XX": {"text": "?"}}))
    with pytest.raises(CommandError, match="unknown item codes"):
        call_command("proms", "load-labels", str(path), "--instrument", "pain_nrs", "--licence", "x")


def adm(patient, procedure, timepoint, day, instrument, responses):  # type: ignore[no-untyped-def]
    with audit_context(label="test:staff", reason="test"):
        return record_administration(
            PromAdministration(
                patient=patient,
                procedure=procedure,
                timepoint=timepoint,
                instrument=instrument,
                mode="paper",
                completed_date=day,
                responses=responses,
            )
        )


@pytest.mark.django_db
def test_rescore_is_idempotent_and_summary_reports_change(site_a) -> None:
    patient = PatientFactory(site=site_a, sex="male")
    make_identity(patient, dob=dt.date(1950, 1, 1))
    procedure = ProcedureFactory(patient=patient, procedure_date=PROC)
    VisitFactory(procedure=procedure, timepoint="m3", visit_date=PROC + dt.timedelta(days=90))
    base = {"MO": 3, "SC": 3, "UA": 3, "PD": 4, "AD": 3, "VAS": 40}
    later = {"MO": 2, "SC": 1, "UA": 2, "PD": 2, "AD": 1, "VAS": 70}
    adm(patient, procedure, "unscheduled", PROC - dt.timedelta(days=2), "eq5d5l", base)  # baseline
    adm(
        patient,
        procedure,
        "unscheduled",
        PROC - dt.timedelta(days=2),
        "vascuqol6",
        {f"VQ{i}": 1 for i in range(1, 7)},
    )
    adm(patient, procedure, "m3", PROC + dt.timedelta(days=90), "eq5d5l", later)
    adm(
        patient,
        procedure,
        "m3",
        PROC + dt.timedelta(days=90),
        "vascuqol6",
        {f"VQ{i}": 3 for i in range(1, 7)},
    )
    scores_before = PromScore.objects.count()
    call_command("proms", "rescore")
    assert PromScore.objects.count() == scores_before  # nothing new, nothing changed

    completion, change = prom_summary(None, dt.date(2025, 7, 1))
    rows = {(r.timepoint, r.instrument): r for r in completion}
    assert (rows[("m3", "eq5d5l")].expected, rows[("m3", "eq5d5l")].completed) == (1, 1)
    assert rows[("w2_6", "pain_nrs")].completed == 0
    by = {(c.timepoint, c.measure): c for c in change}
    assert by[("m3", "eq5d_vas")].mean_change == 30
    assert by[("m3", "vq6_total")].mean_change == 12
    eq = by[("m3", "eq5d_index")]
    assert eq.n == 1 and eq.mean_change > 0.3
    assert prom_summary([], dt.date(2025, 7, 1)) == ([], [])
