"""Capture fixtures: one case at site A (alice's) and one at site B (bob's)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import (
    AdverseEventFactory,
    BaselineFactory,
    MedicationFactory,
    OperatorFactory,
    ProcedureFactory,
    VisitFactory,
    make_identity,
)


@pytest.fixture
def case_a(site_a):  # type: ignore[no-untyped-def]
    procedure = ProcedureFactory(patient__site=site_a)
    make_identity(procedure.patient, nhs_number="9434765919")
    return procedure


@pytest.fixture
def case_b(site_b):  # type: ignore[no-untyped-def]
    procedure = ProcedureFactory(patient__site=site_b)
    make_identity(procedure.patient, nhs_number="4010232137")
    return procedure


@pytest.fixture
def full_case_a(case_a):  # type: ignore[no-untyped-def]
    """Case A with a baseline, a visit, an adverse event and a medication episode."""
    BaselineFactory(procedure=case_a)
    VisitFactory(procedure=case_a)
    AdverseEventFactory(procedure=case_a, serious="yes")
    MedicationFactory(patient=case_a.patient, procedure=case_a, start_date=dt.date(2025, 3, 10))
    return case_a


@pytest.fixture
def operator_a(site_a):  # type: ignore[no-untyped-def]
    return OperatorFactory(site=site_a, code="OPA")


def post_data(form) -> dict:  # type: ignore[no-untyped-def]
    """The POST body a browser would send for an unbound form (initial values, prefixed names)."""
    data: dict = {}
    for name in form.fields:
        value = form[name].value()
        key = form.add_prefix(name)
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[key] = "on"
            continue
        if isinstance(value, list):
            data[key] = value
            continue
        if hasattr(value, "isoformat"):
            value = value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, dt.datetime) else value.isoformat()
        data[key] = value
    return data


def submit(client, url: str, form_cls, instance, parent=None, **values):  # type: ignore[no-untyped-def]
    """POST a capture form as a browser would: current values of ``instance`` plus ``values``
    (unprefixed field names; None removes a field, as an unticked box or empty input would)."""
    form = form_cls(instance=instance, parent=parent)
    data = post_data(form)
    for name, value in values.items():
        key = form.add_prefix(name)
        if value is None:
            data.pop(key, None)
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
            else:
                data.pop(key, None)
        elif hasattr(value, "isoformat"):
            data[key] = value.isoformat()
        else:
            data[key] = value
    return client.post(url, data)


def form_errors(response) -> dict:  # type: ignore[no-untyped-def]
    form = response.context["form"]
    return {k: " ".join(v) for k, v in form.errors.items()}


COMPLETE_PROCEDURE = {
    "admission_type": "elective",
    "technique_family": "dedicated_system",
    "device_manufacturer": "LimFlow",
    "device_model": "LimFlow System",
    "device_udi": "(01)00812345678905(17)271231(10)LOT42",
    "anaesthesia": "general",
    "arterial_access": ["cfa_antegrade"],
    "venous_access": ["pedal_vein_retrograde"],
    "donor_artery": "pta",
    "target_vein": "ptv",
    "crossing_level": "mid_calf",
    "crossing_method": "dedicated_catheter_ultrasound",
    "valvulotomy": "reverse_valvulotome",
    "stent_graft_count": 2,
    "adjunct_inflow_treatment": ["none"],
    "concomitant_minor_amputation": "no",
    "concomitant_debridement": "no",
    "discharge_destination": "home",
}
COMPLETE_BASELINE = {
    "rutherford": 5,
    "wifi_w": 2,
    "wifi_i": 3,
    "wifi_fi": 0,
    "wifi_i_basis": "toe_pressure",
    "glass_im_modifier": "P2",
    "no_option_reasons": ["no_distal_target"],
    "no_option_adjudication": "mdt",
    "imaging_reviewed": ["dsa"],
    "prior_index_limb_revasc_count": 1,
    "prior_minor_amputation_index": "no",
    "rest_pain_nrs": 6,
    "diabetes": "type2",
    "ckd_stage": "G3a",
    "dialysis_dependent": "no",
    "smoking": "ex",
    "ihd": "yes",
    "heart_failure": "no",
    "cerebrovascular": "no",
    "copd": "no",
    "hypertension": "yes",
    "asa_grade": "III",
    "ambulatory_status": "with_aid",
}
COMPLETE_CONSENT = {
    "nice_information_given": "yes",
    "shared_decision_making_documented": "yes",
    "uncertainties_discussed": "yes",
    "alternatives_discussed": ["primary_amputation"],
    "consent_date": dt.date(2025, 3, 1),
    "consent_form_version": "v3",
    "registry_consent": "consented",
    "mdt_date": dt.date(2025, 2, 20),
}


def make_complete(procedure):  # type: ignore[no-untyped-def]
    """Fill every mandatory item of the procedure and add a complete baseline and consent."""
    from pdva.audit.context import audit_context
    from pdva.registry import models as m

    with audit_context(label="test:factory", reason="test fixture"):
        for k, v in COMPLETE_PROCEDURE.items():
            setattr(procedure, k, v)
        procedure.save(reason="test fixture")
        m.Baseline(procedure=procedure, assessment_date=dt.date(2025, 3, 1), **COMPLETE_BASELINE).save()
        m.ConsentGovernance(procedure=procedure, **COMPLETE_CONSENT).save()
    procedure.refresh_from_db()
    return procedure


@pytest.fixture
def complete_case_a(case_a):  # type: ignore[no-untyped-def]
    return make_complete(case_a)
