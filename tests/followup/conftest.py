"""Helpers for follow-up tests: index procedures on a chosen date at a chosen site."""

from __future__ import annotations

import datetime as dt

from tests.factories import PatientFactory, ProcedureFactory


def make_procedure(site, on: dt.date, **kwargs):  # type: ignore[no-untyped-def]
    patient = kwargs.pop("patient", None) or PatientFactory(site=site)
    return ProcedureFactory(
        patient=patient,
        procedure_date=on,
        admission_date=on,
        discharge_date=on + dt.timedelta(days=3),
        **kwargs,
    )
