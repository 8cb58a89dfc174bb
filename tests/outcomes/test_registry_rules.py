"""Registry rules the derivation relies on, end to end through the database loader."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from pdva.audit.context import audit_context
from pdva.outcomes.load import analyse
from pdva.registry.models import Amputation
from tests.factories import AmputationFactory, DeathFactory, PatientFactory, ProcedureFactory, VisitFactory

CUTOFF = dt.date(2026, 1, 1)


@pytest.mark.django_db
def test_syme_is_major_and_counts_on_the_index_limb_only(site_a) -> None:  # type: ignore[no-untyped-def]
    patient = PatientFactory(site=site_a)
    right = ProcedureFactory(patient=patient, index_limb="right", procedure_date=dt.date(2025, 3, 10))
    left = ProcedureFactory(
        patient=patient,
        index_limb="left",
        procedure_date=dt.date(2025, 4, 10),
        admission_date=dt.date(2025, 4, 9),
        discharge_date=dt.date(2025, 4, 12),
        operator=right.operator,
    )
    syme = AmputationFactory(patient=patient, limb="left", level="syme_ankle", date=dt.date(2025, 5, 10))
    assert syme.is_major
    VisitFactory(procedure=right, visit_date=dt.date(2025, 9, 10))
    t = analyse([site_a.pk], CUTOFF, strata=["all"]).derived.table.set_index("procedure_id")
    assert t.loc[left.pk, "amp_day"] == 30  # Syme on the left limb, 30 days after the left procedure
    assert np.isnan(t.loc[right.pk, "amp_day"])  # contralateral for the right-limb procedure
    assert t.loc[right.pk, "end_day"] == 184


@pytest.mark.django_db
def test_the_registry_refuses_an_amputation_after_death(site_a) -> None:  # type: ignore[no-untyped-def]
    patient = PatientFactory(site=site_a)
    ProcedureFactory(patient=patient)
    DeathFactory(patient=patient, date_of_death=dt.date(2025, 6, 1))
    late = Amputation(patient=patient, limb="right", level="below_knee", date=dt.date(2025, 7, 1))
    with (
        audit_context(label="test", reason="test"),
        pytest.raises(ValidationError, match="after the patient's death"),
    ):
        late.save()
    t = analyse([site_a.pk], CUTOFF, strata=["all"]).derived.table
    assert t["dead"].all() and np.isnan(t["amp_day"]).all()
