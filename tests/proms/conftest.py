"""PROM test helpers: a patient with an identity and an index procedure at site A."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.context import audit_context
from pdva.proms.services import links
from tests.factories import PatientFactory, ProcedureFactory, make_identity


@pytest.fixture
def patient(site_a):  # type: ignore[no-untyped-def]
    p = PatientFactory(site=site_a, sex="female")
    make_identity(p, dob=dt.date(1950, 6, 15))
    ProcedureFactory(patient=p)
    return p


def issue_link(patient, *, channel="print", email="", instruments=("eq5d5l", "vascuqol6"), now=None):  # type: ignore[no-untyped-def]
    with audit_context(label="test:staff", reason="test"):
        return links.issue(
            patient=patient,
            procedure=patient.procedures.first(),
            timepoint="m3",
            instruments=list(instruments),
            channel=channel,
            email=email,
            base_url="http://testserver/",
            now=now,
        )
