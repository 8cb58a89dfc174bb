"""Every capture form: hard integrity errors at the field, soft warnings confirmed with a reason,
branching (fields that do not apply are dropped) and NICE mandatory items."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.models import AuditEntry
from pdva.capture.forms import records as f
from pdva.registry import models as m
from tests.capture.conftest import form_errors, submit
from tests.factories import BaselineFactory, DeathFactory, VisitFactory

pytestmark = pytest.mark.django_db


def new(model, **attach):  # type: ignore[no-untyped-def]
    return model(**attach)


@pytest.fixture
def client_a(alice, login):  # type: ignore[no-untyped-def]
    return login(alice)


def create_url(kind: str, parent) -> str:  # type: ignore[no-untyped-def]
    return f"/cases/{kind}/new/{parent.uuid}/"


# --- baseline ---------------------------------------------------------------------------------
def test_baseline_dialysis_details_dropped_when_not_dialysis_dependent(client_a, case_a):
    r = submit(
        client_a,
        create_url("baseline", case_a),
        f.BaselineForm,
        new(m.Baseline, procedure=case_a),
        case_a,
        assessment_date=dt.date(2025, 3, 1),
        dialysis_dependent="no",
        dialysis_modality="hd",
        dialysis_start_date=dt.date(2024, 1, 1),
    )
    assert r.status_code == 302
    baseline = m.Baseline.objects.get(procedure=case_a)
    assert baseline.dialysis_modality == "" and baseline.dialysis_start_date is None


def test_baseline_dialysis_modality_kept_and_mandatory_when_dialysis_dependent(client_a, case_a):
    r = submit(
        client_a,
        create_url("baseline", case_a),
        f.BaselineForm,
        new(m.Baseline, procedure=case_a),
        case_a,
        assessment_date=dt.date(2025, 3, 1),
        dialysis_dependent="yes",
    )
    assert r.status_code == 302
    baseline = m.Baseline.objects.get(procedure=case_a)
    missing = dict(f.BaselineForm.missing_in(f.BaselineForm.values_of(baseline)))
    assert "dialysis_modality" in missing
    baseline_page = client_a.get(f"/cases/baseline/{baseline.uuid}/").content.decode()
    assert "Mandatory item not yet recorded" in baseline_page


def test_baseline_impossible_abi_is_an_error_at_the_field(client_a, case_a):
    r = submit(
        client_a,
        create_url("baseline", case_a),
        f.BaselineForm,
        new(m.Baseline, procedure=case_a),
        case_a,
        assessment_date=dt.date(2025, 3, 1),
        abi="3.50",
    )
    assert r.status_code == 200
    assert "ABI must be between 0 and 3" in form_errors(r)["abi"]
    assert not m.Baseline.objects.filter(procedure=case_a).exists()


def test_baseline_unusual_abi_needs_confirmation_with_a_reason(client_a, case_a):
    args = (
        client_a,
        create_url("baseline", case_a),
        f.BaselineForm,
        new(m.Baseline, procedure=case_a),
        case_a,
    )
    r = submit(*args, assessment_date=dt.date(2025, 3, 1), abi="1.60")
    assert r.status_code == 200
    assert "confirm_warnings" in form_errors(r)
    assert "non-compressible" in r.content.decode()
    assert not m.Baseline.objects.filter(procedure=case_a).exists()
    r = submit(*args, assessment_date=dt.date(2025, 3, 1), abi="1.60", confirm_warnings=True)
    assert r.status_code == 200, "ticking without saying how it was checked is not enough"
    r = submit(
        *args,
        assessment_date=dt.date(2025, 3, 1),
        abi="1.60",
        confirm_warnings=True,
        warning_reason="repeated by the vascular lab",
    )
    assert r.status_code == 302
    baseline = m.Baseline.objects.get(procedure=case_a)
    entry = AuditEntry.objects.get(action="capture.warning.confirmed", object_id=str(baseline.pk))
    assert entry.reason == "repeated by the vascular lab"
    assert "abi" in entry.after["warnings"][0]


def test_baseline_rutherford_below_clti_is_a_soft_warning(client_a, case_a):
    r = submit(
        client_a,
        create_url("baseline", case_a),
        f.BaselineForm,
        new(m.Baseline, procedure=case_a),
        case_a,
        assessment_date=dt.date(2025, 3, 1),
        rutherford="3",
    )
    assert r.status_code == 200
    assert "Rutherford 4-6" in r.content.decode()


def test_baseline_wifi_grades_derive_the_stage(client_a, case_a):
    submit(
        client_a,
        create_url("baseline", case_a),
        f.BaselineForm,
        new(m.Baseline, procedure=case_a),
        case_a,
        assessment_date=dt.date(2025, 3, 1),
        wifi_w="0",
        wifi_i="2",
        wifi_fi="3",
    )
    baseline = m.Baseline.objects.get(procedure=case_a)
    assert (baseline.wifi_stage, baseline.wifi_stage_status) == (4, "disputed")


# --- procedure ---------------------------------------------------------------------------------
def test_procedure_before_birth_is_an_error_at_the_date(client_a, case_a):
    r = submit(
        client_a,
        f"/cases/procedure/{case_a.uuid}/",
        f.ProcedureForm,
        case_a,
        case_a.patient,
        procedure_date=dt.date(1949, 1, 1),
        admission_date=None,
        discharge_date=None,
        reason="typo",
    )
    assert r.status_code == 200
    assert "before the patient's date of birth" in form_errors(r)["procedure_date"]


def test_procedure_discharge_before_procedure_is_an_error(client_a, case_a):
    r = submit(
        client_a,
        f"/cases/procedure/{case_a.uuid}/",
        f.ProcedureForm,
        case_a,
        case_a.patient,
        discharge_date=dt.date(2025, 3, 1),
        reason="correction",
    )
    assert "discharge date is before the procedure date" in form_errors(r)["discharge_date"].lower()


def test_procedure_valvulotomy_extent_dropped_without_valvulotomy(client_a, case_a):
    r = submit(
        client_a,
        f"/cases/procedure/{case_a.uuid}/",
        f.ProcedureForm,
        case_a,
        case_a.patient,
        valvulotomy="none",
        valvulotomy_extent="calf",
        reason="recorded from the operation note",
    )
    assert r.status_code == 302
    case_a.refresh_from_db()
    assert case_a.valvulotomy == "none" and case_a.valvulotomy_extent == ""


def test_procedure_device_udi_mandatory_for_the_dedicated_system():
    values = {"technique_family": "dedicated_system", "device_udi": ""}
    assert "device_udi" in dict(f.ProcedureForm.missing_in(values))
    values = {"technique_family": "off_the_shelf_percutaneous", "device_udi": ""}
    assert "device_udi" not in dict(f.ProcedureForm.missing_in(values))


def test_procedure_long_stay_is_a_soft_warning(client_a, case_a):
    r = submit(
        client_a,
        f"/cases/procedure/{case_a.uuid}/",
        f.ProcedureForm,
        case_a,
        case_a.patient,
        discharge_date=dt.date(2025, 6, 1),
        reason="late discharge",
    )
    assert r.status_code == 200
    assert "length of stay is 84 days" in r.content.decode()


# --- follow-up visit ---------------------------------------------------------------------------
def test_visit_before_the_procedure_is_an_error(client_a, case_a):
    r = submit(
        client_a,
        create_url("visit", case_a),
        f.VisitForm,
        new(m.FollowUpVisit, procedure=case_a),
        case_a,
        visit_date=dt.date(2025, 3, 1),
        timepoint="unscheduled",
        contact_mode="telephone",
    )
    assert "before the index procedure" in form_errors(r)["visit_date"]


def test_visit_after_death_is_an_error(client_a, case_a):
    DeathFactory(patient=case_a.patient, date_of_death=dt.date(2025, 4, 1))
    r = submit(
        client_a,
        create_url("visit", case_a),
        f.VisitForm,
        new(m.FollowUpVisit, procedure=case_a),
        case_a,
        visit_date=dt.date(2025, 4, 20),
        timepoint="unscheduled",
        contact_mode="telephone",
    )
    assert "after the patient's death" in form_errors(r)["visit_date"]


def test_annual_visit_needs_its_year_and_healing_date_only_when_healed(client_a, case_a):
    args = (
        client_a,
        create_url("visit", case_a),
        f.VisitForm,
        new(m.FollowUpVisit, procedure=case_a),
        case_a,
    )
    r = submit(*args, visit_date=dt.date(2025, 4, 7), timepoint="annual", contact_mode="telephone")
    assert "which year" in form_errors(r)["timepoint_year"]
    r = submit(
        *args,
        visit_date=dt.date(2025, 4, 7),
        timepoint="w2_6",
        contact_mode="telephone",
        wound_status="healing",
        complete_healing_date=dt.date(2025, 4, 1),
        timepoint_year="3",
    )
    assert r.status_code == 302
    visit = m.FollowUpVisit.objects.get(procedure=case_a)
    assert visit.complete_healing_date is None and visit.timepoint_year is None


def test_visit_outside_its_window_is_a_soft_warning(client_a, case_a):
    r = submit(
        client_a,
        create_url("visit", case_a),
        f.VisitForm,
        new(m.FollowUpVisit, procedure=case_a),
        case_a,
        visit_date=dt.date(2025, 9, 1),
        timepoint="m3",
        contact_mode="telephone",
    )
    assert r.status_code == 200
    assert "outside the 61-120 day window" in r.content.decode()


def test_face_to_face_visit_makes_the_examination_mandatory():
    assert "pain_nrs" in dict(f.VisitForm.missing_in({"contact_mode": "face_to_face"}))
    assert "pain_nrs" not in dict(f.VisitForm.missing_in({"contact_mode": "telephone"}))


# --- adverse event -----------------------------------------------------------------------------
def test_adverse_event_branching_by_category_and_mhra(client_a, case_a):
    args = (
        client_a,
        create_url("adverse-event", case_a),
        f.AdverseEventForm,
        new(m.AdverseEvent, procedure=case_a),
        case_a,
    )
    r = submit(
        *args,
        onset_date=dt.date(2025, 3, 12),
        category="pain",
        bleeding_severity="barc2",
        steal_grade="II",
        mhra_reported="no",
        mhra_reference="YC-123",
    )
    assert r.status_code == 302
    ae = m.AdverseEvent.objects.get(procedure=case_a)
    assert (ae.bleeding_severity, ae.steal_grade, ae.mhra_reference) == ("", "", "")
    r = submit(
        *args,
        onset_date=dt.date(2025, 3, 13),
        category="bleeding",
        bleeding_severity="barc2",
        mhra_reported="yes",
        mhra_reference="YC-123",
        mhra_report_date=dt.date(2025, 3, 14),
    )
    assert r.status_code == 302
    ae = m.AdverseEvent.objects.get(procedure=case_a, category="bleeding")
    assert (ae.bleeding_severity, ae.mhra_reference) == ("barc2", "YC-123")


def test_adverse_event_conditional_items_are_mandatory_in_their_branch():
    missing = dict(f.AdverseEventForm.missing_in({"category": "steal_syndrome", "mhra_reported": "yes"}))
    assert {"steal_grade", "mhra_reference", "mhra_report_date"} <= set(missing)
    missing = dict(f.AdverseEventForm.missing_in({"category": "pain", "mhra_reported": "no"}))
    assert not {"steal_grade", "bleeding_severity", "mhra_reference"} & set(missing)


def test_fatal_adverse_event_must_be_grade_v(client_a, case_a):
    r = submit(
        client_a,
        create_url("adverse-event", case_a),
        f.AdverseEventForm,
        new(m.AdverseEvent, procedure=case_a),
        case_a,
        onset_date=dt.date(2025, 3, 12),
        category="other",
        outcome="fatal",
        clavien_dindo="II",
    )
    assert "grade V" in form_errors(r)["clavien_dindo"]


def test_clavien_dindo_iv_not_serious_is_a_soft_warning(client_a, case_a):
    r = submit(
        client_a,
        create_url("adverse-event", case_a),
        f.AdverseEventForm,
        new(m.AdverseEvent, procedure=case_a),
        case_a,
        onset_date=dt.date(2025, 3, 12),
        category="other",
        clavien_dindo="IVa",
        serious="no",
    )
    assert r.status_code == 200 and "usually serious" in r.content.decode()


# --- reintervention, medication, amputation, death, consent, PROM -----------------------------
def test_reintervention_needs_a_modality(client_a, case_a):
    r = submit(
        client_a,
        create_url("reintervention", case_a),
        f.ReinterventionForm,
        new(m.Reintervention, procedure=case_a),
        case_a,
        date=dt.date(2025, 5, 1),
        planned="unplanned",
    )
    assert "at least one modality" in form_errors(r)["modalities"]
    r = submit(
        client_a,
        create_url("reintervention", case_a),
        f.ReinterventionForm,
        new(m.Reintervention, procedure=case_a),
        case_a,
        date=dt.date(2025, 5, 1),
        planned="unplanned",
        modalities=["thrombectomy", "pta"],
    )
    assert r.status_code == 302
    assert m.Reintervention.objects.get(procedure=case_a).is_major


def test_medication_stop_needs_a_reason_and_high_dose_warns(client_a, case_a):
    args = (
        client_a,
        create_url("medication", case_a),
        f.MedicationForm,
        new(m.Medication, procedure=case_a, patient=case_a.patient),
        case_a,
    )
    r = submit(
        *args, agent="aspirin", start_date=dt.date(2025, 3, 10), stop_date=dt.date(2025, 4, 10), dose="75"
    )
    assert "Give a reason the drug was stopped" in form_errors(r)["stop_reason"]
    r = submit(*args, agent="aspirin", start_date=dt.date(2025, 3, 10), dose="900")
    assert r.status_code == 200 and "usual maximum of 300 mg" in r.content.decode()
    r = submit(*args, agent="other", agent_other="", start_date=dt.date(2025, 3, 10), dose="5")
    assert r.status_code == 302
    med = m.Medication.objects.get(procedure=case_a)
    assert "agent_other" in dict(f.MedicationForm.missing_in(f.MedicationForm.values_of(med)))


def test_amputation_after_death_is_an_error(client_a, case_a):
    DeathFactory(patient=case_a.patient, date_of_death=dt.date(2025, 4, 1))
    r = submit(
        client_a,
        create_url("amputation", case_a.patient),
        f.AmputationForm,
        new(m.Amputation, patient=case_a.patient),
        case_a.patient,
        limb="right",
        date=dt.date(2025, 5, 1),
        level="below_knee",
    )
    assert "after the patient's death" in form_errors(r)["date"]


def test_death_before_a_recorded_visit_is_an_error(client_a, case_a):
    VisitFactory(procedure=case_a, visit_date=dt.date(2025, 5, 1))
    r = submit(
        client_a,
        create_url("death", case_a.patient),
        f.DeathForm,
        new(m.Death, patient=case_a.patient),
        case_a.patient,
        date_of_death=dt.date(2025, 4, 1),
    )
    assert "after this date of death" in form_errors(r)["date_of_death"]


def test_consent_after_the_procedure_is_an_error(client_a, case_a):
    r = submit(
        client_a,
        create_url("consent", case_a),
        f.ConsentForm,
        new(m.ConsentGovernance, procedure=case_a),
        case_a,
        consent_date=dt.date(2025, 3, 20),
    )
    assert "after the procedure" in form_errors(r)["consent_date"]


def test_prom_responses_are_checked_and_only_the_chosen_instrument_kept(client_a, case_a):
    args = (
        client_a,
        create_url("prom", case_a),
        f.PromForm,
        new(m.PromAdministration, procedure=case_a, patient=case_a.patient),
        case_a,
    )
    eq = {f"item_eq5d5l_{c}": "2" for c in ("MO", "SC", "UA", "PD")}
    r = submit(*args, instrument="eq5d5l", mode="paper", completed_date=dt.date(2025, 4, 1), **eq)
    assert r.status_code == 200
    assert "missing items AD, VAS" in " ".join(r.context["form"].non_field_errors())
    r = submit(
        *args,
        instrument="eq5d5l",
        mode="paper",
        completed_date=dt.date(2025, 4, 1),
        item_eq5d5l_AD="1",
        item_eq5d5l_VAS="70",
        item_vascuqol6_VQ1="3",
        **eq,
    )
    assert r.status_code == 302
    prom = m.PromAdministration.objects.get(procedure=case_a)
    assert prom.responses == {"MO": 2, "SC": 2, "UA": 2, "PD": 2, "AD": 1, "VAS": 70}
    r = submit(
        *args, instrument="pain_nrs", mode="paper", completed_date=dt.date(2025, 4, 1), item_pain_nrs_NRS="11"
    )
    assert "Ensure this value is less than or equal to 10" in form_errors(r)["item_pain_nrs_NRS"]


def test_baseline_edit_shows_which_mandatory_items_are_missing(client_a, case_a):
    baseline = BaselineFactory(procedure=case_a)
    page = client_a.get(f"/cases/baseline/{baseline.uuid}/").content.decode()
    assert page.count("Mandatory item not yet recorded") == len(
        f.BaselineForm.missing_in(f.BaselineForm.values_of(baseline))
    )
