"""The date and range rules, defined once in pdva.registry.rules: the pure rules, and the same answer from
the models (every save), the capture forms and the import."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pdva.audit.context import audit_context
from pdva.capture.forms import records as forms
from pdva.registry import models as m
from pdva.registry import rules
from tests.capture.conftest import form_errors, submit
from tests.factories import DeathFactory, PatientFactory, ProcedureFactory, make_identity

BORN = dt.date(1950, 6, 15)


# --- the pure rules -------------------------------------------------------------------------------------


def test_death_before_birth():
    assert "before the patient's date of birth (15 Jun 1950)" in rules.death_before_birth(
        dt.date(1950, 6, 14), BORN
    )
    assert rules.death_before_birth(BORN, BORN) is None  # on the day of birth is possible
    assert rules.death_before_birth(dt.date(2020, 1, 1), BORN) is None
    assert rules.death_before_birth(None, BORN) is None and rules.death_before_birth(BORN, None) is None


def test_birth_after_death():
    assert "after the patient's death (01 Jan 1949)" in rules.birth_after_death(BORN, dt.date(1949, 1, 1))
    assert rules.birth_after_death(BORN, dt.date(2020, 1, 1)) is None
    assert rules.birth_after_death(None, dt.date(2020, 1, 1)) is None


def test_negative_measurements():
    errors = rules.negative_values(
        "followupvisit", {"wound_area_total_cm2": Decimal("-0.1"), "duplex_psv_ratio": Decimal("0")}
    )
    assert (
        list(errors) == ["wound_area_total_cm2"] and "must not be negative" in errors["wound_area_total_cm2"]
    )
    assert rules.negative_values("followupvisit", {"wound_area_total_cm2": None}) == {}
    assert rules.negative_values("medication", {"dose": Decimal("-5")}) == {
        "dose": "dose must not be negative"
    }
    assert rules.negative_values("site", {"anything": -1}) == {}


def test_every_named_measurement_exists_and_carries_the_validator():
    from django.apps import apps

    for model_name, names in rules.NOT_NEGATIVE.items():
        model = apps.get_model("registry", model_name)
        for name in names:
            f = model._meta.get_field(name)
            with pytest.raises(ValidationError, match="not negative"):
                f.run_validators(Decimal("-1"))
            f.run_validators(Decimal("0"))


# --- the models apply them on every save (forms, API and import all save through them) --------------------


@pytest.fixture
def patient(db):  # type: ignore[no-untyped-def]
    patient = PatientFactory()
    make_identity(patient, dob=BORN)
    return patient


def test_a_death_before_birth_is_refused_by_the_model(patient):
    death = m.Death(patient=patient, date_of_death=dt.date(1949, 12, 31))
    with pytest.raises(ValidationError) as refused:
        death.prepare_for_save()
    assert "before the patient's date of birth" in refused.value.message_dict["date_of_death"][0]
    m.Death(patient=patient, date_of_death=dt.date(2020, 1, 1)).prepare_for_save()


def test_a_date_of_birth_after_the_death_is_refused_by_the_model(patient):
    DeathFactory(patient=patient, date_of_death=dt.date(2020, 1, 1))
    identity = m.PatientIdentity.objects.get(patient=patient)
    identity.date_of_birth = dt.date(2021, 1, 1)
    with pytest.raises(ValidationError, match="after the patient's death"):
        identity.prepare_for_save()


def test_a_negative_wound_area_is_refused_on_save(patient):
    procedure = ProcedureFactory(patient=patient)
    visit = m.FollowUpVisit(
        procedure=procedure,
        visit_date=procedure.procedure_date,
        timepoint="unscheduled",
        contact_mode="telephone",
        wound_area_total_cm2=Decimal("-2.5"),
    )
    with audit_context(label="test"), pytest.raises(ValidationError) as refused:
        visit.save()
    assert "must not be negative" in refused.value.message_dict["wound_area_total_cm2"][0]
    assert not m.FollowUpVisit.objects.filter(procedure=procedure).exists()


# --- the capture forms ------------------------------------------------------------------------------------


@pytest.fixture
def case(site_a):  # type: ignore[no-untyped-def]
    procedure = ProcedureFactory(patient__site=site_a)
    make_identity(procedure.patient, nhs_number="9434765919", dob=BORN)
    return procedure


def test_the_visit_form_refuses_a_negative_wound_area(alice, login, case):
    r = submit(
        login(alice),
        f"/cases/visit/new/{case.uuid}/",
        forms.VisitForm,
        m.FollowUpVisit(procedure=case),
        case,
        visit_date=case.procedure_date + dt.timedelta(days=30),
        timepoint="unscheduled",
        contact_mode="telephone",
        wound_area_total_cm2="-1.5",
    )
    assert "not negative" in form_errors(r)["wound_area_total_cm2"]
    assert not m.FollowUpVisit.objects.filter(procedure=case).exists()


def test_the_death_form_refuses_a_death_before_birth(alice, login, case):
    r = submit(
        login(alice),
        f"/cases/death/new/{case.patient.uuid}/",
        forms.DeathForm,
        m.Death(patient=case.patient),
        case.patient,
        date_of_death=dt.date(1940, 1, 1),
        source="hospital_record",
    )
    assert "before the patient's date of birth" in form_errors(r)["date_of_death"]
    assert not m.Death.objects.filter(patient=case.patient).exists()


def test_measurements_given_as_text_are_judged_by_their_value():
    # Bulk writes may assign a decimal as text before the field converts it.
    assert rules.negative_values("followupvisit", {"wound_area_total_cm2": "-0.5"})
    assert rules.negative_values("followupvisit", {"wound_area_total_cm2": "1.5"}) == {}
    assert rules.negative_values("followupvisit", {"wound_area_total_cm2": "not a number"}) == {}
