"""Every derived value is computed in one place (model derive() or a pure helper) and tested here."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from pdva.audit.context import audit_context
from pdva.registry import choices as c
from pdva.registry.durations import covered_days
from pdva.registry.models import Amputation, Reintervention
from pdva.registry.models.procedure import derive_technical_success
from tests.factories import (
    AdverseEventFactory,
    AmputationFactory,
    BaselineFactory,
    DeathFactory,
    MedicationFactory,
    ProcedureFactory,
    ReinterventionFactory,
    VisitFactory,
    make_identity,
)

YN = st.sampled_from(["yes", "no", "not_known"])
OUTFLOW = st.sampled_from([v for v, _ in c.Outflow.choices])


@given(YN, OUTFLOW, YN)
def test_technical_success_follows_its_definition(opacification, outflow, conversion):
    result = derive_technical_success(opacification, outflow, conversion)
    failed = opacification == "no" or outflow == "none" or conversion == "yes"
    proven = opacification == "yes" and outflow not in ("none", "not_known") and conversion == "no"
    assert result == ("no" if failed else "yes" if proven else "not_known")


@pytest.mark.django_db
def test_procedure_derives_stay_duration_age_and_success(site_a):
    procedure = ProcedureFactory(
        patient__site=site_a,
        admission_date=dt.date(2025, 3, 8),
        procedure_date=dt.date(2025, 3, 10),
        discharge_date=dt.date(2025, 3, 15),
        start_time=dt.datetime(2025, 3, 10, 9, 0, tzinfo=dt.UTC),
        end_time=dt.datetime(2025, 3, 10, 11, 30, tzinfo=dt.UTC),
    )
    assert procedure.length_of_stay_days == 7
    assert procedure.duration_minutes == 150
    assert procedure.technical_success == "yes"
    assert procedure.age_at_procedure is None  # no identity yet
    make_identity(procedure.patient, dob=dt.date(1950, 6, 15))
    procedure.refresh_from_db()
    with audit_context(label="test"):
        procedure.notes = "age now derivable"
        procedure.save(reason="test")
    assert procedure.age_at_procedure == 74


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("level", "major"), [(v, v in c.MAJOR_AMPUTATION_LEVELS) for v, _ in c.AmputationLevel.choices]
)
def test_amputation_major_is_ankle_or_above(site_a, level, major):
    amputation = AmputationFactory(patient__site=site_a, level=level)
    assert amputation.is_major is major


def test_syme_counts_as_major():
    assert "syme_ankle" in c.MAJOR_AMPUTATION_LEVELS and "transmetatarsal" not in c.MAJOR_AMPUTATION_LEVELS


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("modalities", "major"),
    [
        (["pta"], False),
        (["pta", "thrombectomy"], True),
        (["new_bypass"], True),
        (["dcb", "bare_stent"], False),
    ],
)
def test_major_reintervention_follows_the_male_definition(site_a, modalities, major):
    assert ReinterventionFactory(procedure__patient__site=site_a, modalities=modalities).is_major is major


@pytest.mark.django_db
def test_baseline_derives_wifi_and_glass_stage_with_table_versions(site_a):
    baseline = BaselineFactory(
        procedure__patient__site=site_a,
        wifi_w=2,
        wifi_i=1,
        wifi_fi=0,
        glass_fp_grade=2,
        glass_ip_grade=2,
        glass_ip_severe_calcification=True,
    )
    assert (baseline.wifi_stage, baseline.wifi_stage_status, baseline.wifi_table_version) == (
        3,
        "corrected",
        "2026.1",
    )
    assert baseline.glass_stage == "II"  # FP2 + IP3 (IP2 raised by calcification)
    assert baseline.reported_wifi_stage == 3


@pytest.mark.django_db
def test_unsalvageable_is_a_separate_clinician_flag(site_a):
    baseline = BaselineFactory(
        procedure__patient__site=site_a, wifi_w=3, wifi_i=3, wifi_fi=3, unsalvageable=True
    )
    assert baseline.wifi_stage == 4
    assert baseline.reported_wifi_stage == 5


@pytest.mark.django_db
def test_medication_class_is_derived(site_a):
    assert MedicationFactory(patient__site=site_a, agent="apixaban").drug_class == "anticoagulant"
    assert MedicationFactory(patient__site=site_a, agent="clopidogrel").drug_class == "antiplatelet"


@pytest.mark.django_db
def test_treatment_days_merge_overlapping_episodes_and_stop_at_death(site_a):
    procedure = ProcedureFactory(patient__site=site_a)
    patient = procedure.patient
    MedicationFactory(
        patient=patient,
        agent="rivaroxaban",
        start_date=dt.date(2025, 3, 10),
        stop_date=dt.date(2025, 5, 10),
        stop_reason="planned_end",
    )
    MedicationFactory(
        patient=patient, agent="apixaban", start_date=dt.date(2025, 5, 1)
    )  # switch, overlapping
    MedicationFactory(patient=patient, agent="aspirin", start_date=dt.date(2025, 3, 10))
    assert patient.treatment_days("anticoagulant", as_of=dt.date(2025, 7, 10)) == 122
    DeathFactory(patient=patient, date_of_death=dt.date(2025, 6, 9))
    patient.refresh_from_db()
    assert patient.treatment_days("anticoagulant", as_of=dt.date(2025, 7, 10)) == 91
    assert patient.treatment_days("antiplatelet", as_of=dt.date(2025, 7, 10)) == 91


DAY0 = dt.date(2025, 1, 1)
EPISODE = st.tuples(st.integers(0, 400), st.one_of(st.none(), st.integers(0, 200)))


@given(st.lists(EPISODE, max_size=8), st.integers(0, 600))
def test_covered_days_is_the_size_of_the_union(raw, horizon):
    as_of = DAY0 + dt.timedelta(days=horizon)
    episodes = [
        (DAY0 + dt.timedelta(days=s), None if length is None else DAY0 + dt.timedelta(days=s + length))
        for s, length in raw
    ]
    covered = set()
    for start, stop in episodes:
        end = min(stop or as_of, as_of)
        covered.update(range((start - DAY0).days, (end - DAY0).days))
    assert covered_days(episodes, as_of=as_of) == len(covered)
    assert covered_days(list(reversed(episodes)), as_of=as_of) == len(covered)


def test_covered_days_rejects_an_episode_that_stops_before_it_starts():
    with pytest.raises(ValueError, match="stops"):
        covered_days([(dt.date(2025, 2, 1), dt.date(2025, 1, 1))], as_of=dt.date(2025, 3, 1))


@pytest.mark.django_db
class TestIntegrityRules:
    def test_visit_before_the_procedure_is_refused(self, site_a):
        procedure = ProcedureFactory(patient__site=site_a)
        with pytest.raises(ValidationError, match="before the index procedure"):
            VisitFactory(procedure=procedure, visit_date=procedure.procedure_date - dt.timedelta(days=1))

    def test_events_after_death_are_refused(self, site_a):
        procedure = ProcedureFactory(patient__site=site_a)
        DeathFactory(patient=procedure.patient, date_of_death=dt.date(2025, 4, 1))
        procedure.patient.refresh_from_db()
        with pytest.raises(ValidationError, match="after the patient's death"):
            AdverseEventFactory(procedure=procedure, onset_date=dt.date(2025, 4, 2))
        with pytest.raises(ValidationError, match="after the patient's death"):
            AmputationFactory(patient=procedure.patient, date=dt.date(2025, 4, 5))

    def test_death_before_a_recorded_event_is_refused(self, site_a):
        procedure = ProcedureFactory(patient__site=site_a)
        ReinterventionFactory(procedure=procedure, date=dt.date(2025, 5, 1))
        with pytest.raises(ValidationError, match="after this date of death"):
            DeathFactory(patient=procedure.patient, date_of_death=dt.date(2025, 4, 1))

    def test_procedure_before_birth_is_refused(self, site_a):
        procedure = ProcedureFactory(patient__site=site_a)
        make_identity(procedure.patient, dob=dt.date(1950, 1, 1))
        procedure.refresh_from_db()
        procedure.procedure_date = dt.date(1949, 1, 1)
        procedure.admission_date = procedure.discharge_date = None
        with audit_context(label="test"), pytest.raises(ValidationError, match="date of birth"):
            procedure.save(reason="typo")

    def test_operator_must_work_at_the_patient_site(self, site_a, site_b):
        from tests.factories import OperatorFactory

        with pytest.raises(ValidationError, match="another site"):
            ProcedureFactory(patient__site=site_a, operator=OperatorFactory(site=site_b))

    def test_conditional_adverse_event_fields(self, site_a):
        with pytest.raises(ValidationError, match="only recorded for bleeding"):
            AdverseEventFactory(procedure__patient__site=site_a, category="pain", bleeding_severity="barc2")
        assert (
            AdverseEventFactory(
                procedure__patient__site=site_a, category="bleeding", bleeding_severity="barc2"
            ).bleeding_severity
            == "barc2"
        )

    def test_dialysis_details_need_dialysis_dependence(self, site_a):
        with pytest.raises(ValidationError, match="not recorded as dialysis dependent"):
            BaselineFactory(procedure__patient__site=site_a, dialysis_dependent="no", dialysis_modality="hd")

    def test_reintervention_needs_a_modality_and_unknown_codes_are_refused(self, site_a):
        with pytest.raises(ValidationError, match="at least one modality"):
            ReinterventionFactory(procedure__patient__site=site_a, modalities=[])
        with pytest.raises(ValidationError, match="unknown code"):
            ReinterventionFactory(procedure__patient__site=site_a, modalities=["laser"])

    def test_prom_responses_are_checked_against_the_instrument(self, site_a):
        from pdva.registry.models import PromAdministration

        procedure = ProcedureFactory(patient__site=site_a)
        prom = PromAdministration(
            patient=procedure.patient,
            procedure=procedure,
            instrument="eq5d5l",
            mode="paper",
            completed_date=dt.date(2025, 4, 1),
            responses={"MO": 6, "SC": 1, "UA": 1, "PD": 1},
        )
        with audit_context(label="test"), pytest.raises(ValidationError) as caught:
            prom.save()
        message = str(caught.value)
        assert "MO must be a whole number from 1 to 5" in message and "missing items AD, VAS" in message


def test_models_have_the_expected_value_sets():
    assert set(c.NICE_SAFETY_CATEGORIES) <= set(c.AECategory.values)
    assert all(
        "not_known" in choices.values for choices in (c.Sex, c.TechniqueFamily, c.YesNo, c.Relatedness)
    )
    assert Amputation._meta.get_field("is_major").editable is False
    assert Reintervention._meta.get_field("is_major").editable is False
