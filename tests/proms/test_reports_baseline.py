"""The /prom/reports/ change from baseline uses pdva.outcomes' single baseline rule (PROM_BASELINE_RULE):
latest scored administration in the 90 days up to the procedure date, linked to this procedure or to none;
otherwise the discharge administration; another procedure's (other limb's) administration never counts."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.context import audit_context
from pdva.outcomes.definitions import PROM_BASELINE_RULE
from pdva.proms.services.reports import prom_summary
from pdva.proms.services.scoring import record_administration
from pdva.registry.models import PromAdministration
from tests.factories import PatientFactory, ProcedureFactory, make_identity

PROC = dt.date(2025, 3, 10)
TODAY = dt.date(2025, 10, 1)
EQ5D = {"MO": 2, "SC": 2, "UA": 2, "PD": 2, "AD": 2}


def adm(patient, procedure, timepoint, day, vas):  # type: ignore[no-untyped-def]
    with audit_context(label="test:staff", reason="test"):
        return record_administration(
            PromAdministration(
                patient=patient,
                procedure=procedure,
                timepoint=timepoint,
                instrument="eq5d5l",
                mode="paper",
                completed_date=day,
                responses={**EQ5D, "VAS": vas},
            )
        )


def vas_change(site_ids=None):  # type: ignore[no-untyped-def]
    _, change = prom_summary(site_ids, TODAY)
    return {(r.timepoint, r.measure): r for r in change}.get(("m3", "eq5d_vas"))


def patient_with_procedure(site):  # type: ignore[no-untyped-def]
    patient = PatientFactory(site=site, sex="female")
    make_identity(patient, dob=dt.date(1950, 1, 1))
    return patient, ProcedureFactory(patient=patient, procedure_date=PROC, index_limb="right")


def days(n: int) -> dt.date:
    return PROC + dt.timedelta(days=n)


@pytest.mark.django_db
def test_pre_procedure_administration_60_days_before_is_the_baseline(site_a) -> None:
    patient, procedure = patient_with_procedure(site_a)
    adm(patient, procedure, "unscheduled", days(-60), 40)
    adm(patient, procedure, "discharge", days(3), 55)  # not used: a pre-procedure baseline exists
    adm(patient, procedure, "m3", days(91), 70)
    row = vas_change()
    assert (row.n, row.mean_baseline, row.mean_followup, row.mean_change) == (1, 40, 70, 30)


@pytest.mark.django_db
def test_administration_120_days_before_is_outside_the_look_back(site_a) -> None:
    patient, procedure = patient_with_procedure(site_a)
    adm(patient, procedure, "unscheduled", days(-120), 10)
    adm(patient, procedure, "m3", days(91), 70)
    assert vas_change() is None  # no baseline: no pair
    adm(patient, procedure, "discharge", days(3), 50)
    row = vas_change()
    assert (row.n, row.mean_baseline, row.mean_change) == (1, 50, 20)


@pytest.mark.django_db
def test_unlinked_administration_before_the_procedure_counts(site_a) -> None:
    patient, procedure = patient_with_procedure(site_a)
    adm(patient, None, "unscheduled", days(-10), 35)
    adm(patient, procedure, "discharge", days(3), 50)
    adm(patient, procedure, "m3", days(91), 70)
    row = vas_change()
    assert (row.n, row.mean_baseline, row.mean_change) == (1, 35, 35)


@pytest.mark.django_db
def test_other_limbs_administration_is_not_this_procedures_baseline(site_a) -> None:
    patient, procedure = patient_with_procedure(site_a)
    other = ProcedureFactory(
        patient=patient, procedure_date=days(-5), admission_date=days(-5), index_limb="left"
    )
    adm(patient, other, "unscheduled", days(-5), 10)  # the left leg's pre-procedure questionnaire
    adm(patient, procedure, "discharge", days(3), 50)
    adm(patient, procedure, "m3", days(91), 70)
    row = vas_change()
    assert (row.n, row.mean_baseline, row.mean_change) == (1, 50, 20)


@pytest.mark.django_db
def test_summary_is_scoped_to_the_given_sites(site_a, site_b) -> None:
    patient, procedure = patient_with_procedure(site_a)
    adm(patient, procedure, "unscheduled", days(-1), 40)
    adm(patient, procedure, "m3", days(91), 70)
    assert vas_change([site_a.id]).n == 1
    assert vas_change([site_b.id]) is None
    assert prom_summary([], TODAY) == ([], [])


@pytest.mark.django_db
def test_reports_page_states_the_shared_rule_and_shows_the_pair(alice, login, site_a) -> None:
    patient, procedure = patient_with_procedure(site_a)
    adm(patient, procedure, "unscheduled", days(-60), 40)
    adm(patient, procedure, "m3", days(91), 70)
    page = login(alice).get("/prom/reports/").content.decode()
    assert "90 days up to and including the procedure date" in PROM_BASELINE_RULE
    assert "90 days up to and including the procedure date" in page
    assert "EQ VAS (0-100)" in page and "30.000" in page
