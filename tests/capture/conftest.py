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
