"""Patient page timeline (date order, days since procedure, completeness, medication bars) and the
governance screens (site governance record, operators and their training)."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.capture.forms.workflow import OperatorForm, SiteGovernanceForm
from pdva.registry import models as m
from tests.capture.conftest import submit
from tests.factories import (
    AdverseEventFactory,
    AmputationFactory,
    BaselineFactory,
    MedicationFactory,
    ReinterventionFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db


def test_timeline_in_date_order_with_days(alice, login, case_a):
    BaselineFactory(procedure=case_a)
    ReinterventionFactory(procedure=case_a, date=dt.date(2025, 5, 9), modalities=["thrombectomy"])
    VisitFactory(procedure=case_a, visit_date=dt.date(2025, 4, 9))
    AdverseEventFactory(procedure=case_a, onset_date=dt.date(2025, 3, 15), serious="yes")
    AmputationFactory(patient=case_a.patient, limb="right", date=dt.date(2025, 6, 1), level="toe")
    AmputationFactory(patient=case_a.patient, limb="left", date=dt.date(2025, 6, 2), level="toe")
    MedicationFactory(
        patient=case_a.patient,
        procedure=case_a,
        start_date=dt.date(2025, 3, 10),
        stop_date=dt.date(2025, 6, 8),
        stop_reason="planned_end",
    )
    r = login(alice).get(f"/cases/patients/{case_a.patient.uuid}/")
    case = r.context["cases"][0]
    assert [(e.kind.slug, e.day) for e in case.events] == [
        ("baseline", -3),
        ("procedure", 0),
        ("adverse-event", 5),
        ("visit", 30),
        ("reintervention", 60),
        ("amputation", 83),
    ]
    assert [e.flag for e in case.events if e.flag] == ["serious", "major"]
    bar = case.bars[0]
    assert (bar.start_day, bar.stop_day) == (0, 90) and 0 < bar.width_pct <= 100
    assert 0 < case.percent < 100
    assert len(r.context["other_amputations"]) == 1
    body = r.content.decode()
    assert "day 30" in body and "3 days before" in body


def test_completeness_reaches_100_for_a_complete_case(alice, login, complete_case_a):
    r = login(alice).get(f"/cases/case/{complete_case_a.uuid}/")
    assert r.context["case"].percent == 100 and r.context["blockers"] == []


def test_governance_lead_edits_the_site_record_and_operators(gina, alice, login, site_a):
    client = login(gina)
    assert client.get("/cases/governance/").status_code == 200
    instance = m.SiteGovernance(site=site_a)
    r = submit(
        client,
        f"/cases/governance/{site_a.pk}/",
        SiteGovernanceForm,
        instance,
        governance_lead_name="Dr Lead",
        governance_lead_informed_date=dt.date(2025, 1, 5),
        local_approval_date=dt.date(2025, 1, 20),
    )
    assert r.status_code == 302
    assert m.SiteGovernance.objects.get(site=site_a).arrangements_complete
    r = submit(
        client,
        f"/cases/governance/{site_a.pk}/operators/new/",
        OperatorForm,
        m.Operator(site=site_a),
        code="IR1",
        display_name="Dr Radiologist",
        role="interventional_radiologist",
        training_documented=True,
        training_date=dt.date(2024, 11, 1),
        prior_dva_experience_cases="3",
    )
    assert r.status_code == 302
    operator = m.Operator.objects.get(site=site_a, code="IR1")
    r = submit(
        client,
        f"/cases/operators/{operator.pk}/",
        OperatorForm,
        operator,
        code="IR1",
        training_date=dt.date(2030, 1, 1),
        reason="x",
    )
    assert "Training date cannot be in the future" in " ".join(r.context["form"].errors["training_date"])
    # Duplicate operator code at the same site is refused at the field.
    r = submit(
        client,
        f"/cases/governance/{site_a.pk}/operators/new/",
        OperatorForm,
        m.Operator(site=site_a),
        code="IR1",
        display_name="X",
        role="other",
    )
    assert "already uses this code" in " ".join(r.context["form"].errors["code"])
    # A clinician sees the governance page but cannot edit it.
    assert login(alice).get(f"/cases/governance/{site_a.pk}/").status_code == 403
