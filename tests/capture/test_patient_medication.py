"""Medication episodes at patient level: a drug not tied to one procedure (e.g. long-term anticoagulation
for AF) is entered once and shown on every case of that patient."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.capture.forms.records import MedicationForm
from pdva.registry import models as m
from tests.capture.conftest import submit
from tests.factories import MedicationFactory, ProcedureFactory

pytestmark = pytest.mark.django_db

AF_ANTICOAGULATION = {
    "agent": "apixaban",
    "indication": "af",
    "dose": "5",
    "frequency": "bd",
    "start_date": dt.date(2024, 11, 1),
}


@pytest.fixture
def two_cases(case_a):  # type: ignore[no-untyped-def]
    left = ProcedureFactory(
        patient=case_a.patient,
        operator=case_a.operator,
        index_limb="left",
        procedure_date=dt.date(2025, 5, 2),
        admission_date=dt.date(2025, 5, 1),
        discharge_date=dt.date(2025, 5, 4),
    )
    return case_a, left


def test_entered_from_the_patient_and_shown_on_every_case(alice, login, two_cases):
    right, left = two_cases
    patient = right.patient
    client = login(alice)
    new = client.get(f"/cases/medication/new/{patient.uuid}/")
    assert new.status_code == 200 and new.context["back_url"] == f"/cases/patients/{patient.uuid}/"
    instance = m.Medication(patient=patient)
    r = submit(
        client, f"/cases/medication/new/{patient.uuid}/", MedicationForm, instance, **AF_ANTICOAGULATION
    )
    assert r.status_code == 302 and r["Location"] == f"/cases/patients/{patient.uuid}/"
    med = m.Medication.objects.get()
    assert (med.patient, med.procedure, med.drug_class) == (patient, None, "anticoagulant")
    for case in (right, left):
        response = client.get(f"/cases/case/{case.uuid}/")
        bars = response.context["case"].bars
        assert [b.record for b in bars] == [med] and bars[0].patient_level
        page = response.content.decode()
        medication_list = page[page.index('id="list-medication"') :]
        assert (
            f"/cases/medication/{med.uuid}/" in medication_list
            and "all cases of this patient" in medication_list
        )
    # Days are counted from each case's own procedure.
    assert [client.get(f"/cases/case/{c.uuid}/").context["case"].bars[0].start_day for c in two_cases] == [
        (med.start_date - right.procedure_date).days,
        (med.start_date - left.procedure_date).days,
    ]


def test_a_case_episode_shows_on_its_own_case_only_and_can_become_patient_level(alice, login, two_cases):
    right, left = two_cases
    med = MedicationFactory(patient=right.patient, procedure=right, start_date=dt.date(2025, 3, 11))
    client = login(alice)
    assert [b.record for b in client.get(f"/cases/case/{left.uuid}/").context["case"].bars] == []
    r = submit(
        client,
        f"/cases/medication/{med.uuid}/",
        MedicationForm,
        med,
        parent=right,
        procedure="",
        reason="long-term drug for AF, not for this pDVA",
    )
    assert r.status_code == 302
    med.refresh_from_db()
    assert med.procedure is None
    assert [b.record for b in client.get(f"/cases/case/{left.uuid}/").context["case"].bars] == [med]


def test_only_this_patients_cases_can_be_chosen(alice, login, two_cases, site_a):
    right, _ = two_cases
    stranger = ProcedureFactory(patient__site=site_a)
    instance = m.Medication(patient=right.patient)
    r = submit(
        login(alice),
        f"/cases/medication/new/{right.patient.uuid}/",
        MedicationForm,
        instance,
        **AF_ANTICOAGULATION,
        procedure=stranger.pk,
    )
    assert r.status_code == 200
    assert "procedure" in r.context["form"].errors
    assert not m.Medication.objects.exists()


def test_created_from_a_case_it_is_tied_to_that_case(alice, login, two_cases):
    right, _ = two_cases
    instance = m.Medication(patient=right.patient, procedure=right)
    r = submit(
        login(alice),
        f"/cases/medication/new/{right.uuid}/",
        MedicationForm,
        instance,
        parent=right,
        **AF_ANTICOAGULATION,
    )
    assert r.status_code == 302
    assert m.Medication.objects.get().procedure == right


def test_another_sites_patient_is_not_reachable(bob, login, case_a):
    assert login(bob).get(f"/cases/medication/new/{case_a.patient.uuid}/").status_code == 404
