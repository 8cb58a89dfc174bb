"""API fixtures: one patient's whole story at site A, and a token per actor."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from pdva.api.models import ApiToken
from pdva.audit.context import audit_context
from pdva.registry.models import PromAdministration
from tests.factories import (
    AdverseEventFactory,
    AmputationFactory,
    DeathFactory,
    MedicationFactory,
    PatientFactory,
    ProcedureFactory,
    ReinterventionFactory,
    VisitFactory,
)


@pytest.fixture
def story(site_a):  # type: ignore[no-untyped-def]
    patient = PatientFactory(site=site_a)
    procedure = ProcedureFactory(patient=patient)
    with audit_context(label="test:factory", reason="test fixture"):
        prom = PromAdministration(
            patient=patient,
            procedure=procedure,
            timepoint="m3",
            instrument="pain_nrs",
            mode="paper",
            completed_date=dt.date(2025, 6, 10),
            responses={"NRS": 4},
        )
        prom.save()
    return {
        "patients": patient,
        "procedures": procedure,
        "followups": VisitFactory(procedure=procedure),
        "adverse-events": AdverseEventFactory(procedure=procedure),
        "reinterventions": ReinterventionFactory(procedure=procedure),
        "amputations": AmputationFactory(patient=patient),
        "deaths": DeathFactory(patient=patient),
        "medication": MedicationFactory(patient=patient),
        "proms": prom,
    }


def issue(user, name="test"):  # type: ignore[no-untyped-def]
    with audit_context(label="test:factory", reason="test token"):
        return ApiToken.issue(user, name)[1]


@pytest.fixture
def token_for():  # type: ignore[no-untyped-def]
    return issue


def call(raw: str | None, path: str):  # type: ignore[no-untyped-def]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}
    return Client().get(path, **headers)
