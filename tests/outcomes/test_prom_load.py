"""PROM change through the database loader: scores stored by pdva.proms are used as they are; an administration
it has not scored yet is scored with its scoring function, with the age at completion from the identity."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.context import audit_context
from pdva.outcomes.load import analyse
from pdva.proms.lib import eq5d
from pdva.proms.services.scoring import record_administration
from pdva.registry.models import PromAdministration
from tests.factories import PatientFactory, ProcedureFactory, VisitFactory, make_identity

CUTOFF = dt.date(2026, 1, 1)


@pytest.mark.django_db
def test_stored_and_unscored_administrations_give_the_change(site_a) -> None:  # type: ignore[no-untyped-def]
    patient = PatientFactory(site=site_a, sex="female")
    make_identity(patient, dob=dt.date(1946, 6, 15))  # 78 at the discharge questionnaire (Mar 2025)
    procedure = ProcedureFactory(patient=patient, procedure_date=dt.date(2025, 3, 10))
    VisitFactory(procedure=procedure, visit_date=dt.date(2025, 9, 10))

    def adm(timepoint: str, when: dt.date, responses: dict) -> PromAdministration:
        return PromAdministration(
            patient=patient,
            procedure=procedure,
            timepoint=timepoint,
            instrument="eq5d5l",
            mode="paper",
            completed_date=when,
            responses=responses,
        )

    with audit_context(label="test", reason="test"):
        adm(
            "discharge", dt.date(2025, 3, 14), {"MO": 3, "SC": 2, "UA": 3, "PD": 4, "AD": 2, "VAS": 35}
        ).save()
        later = record_administration(
            adm("m3", dt.date(2025, 6, 12), {"MO": 2, "SC": 1, "UA": 2, "PD": 2, "AD": 1, "VAS": 60}),
            reason="test",
        )
    assert later.score is not None and later.score_method.startswith(eq5d.PRIMARY_VALUE_SET)

    a = analyse([site_a.pk], CUTOFF, strata=["all"])
    t = a.derived.table.set_index("procedure_id")
    baseline = eq5d.index(eq5d.PRIMARY_VALUE_SET, "32342", age=78, sex="female")
    assert t.loc[procedure.pk, "prom_eq5d_index_base"] == pytest.approx(baseline)
    assert t.loc[procedure.pk, "prom_eq5d_index_m3_change"] == pytest.approx(float(later.score) - baseline)
    assert t.loc[procedure.pk, "prom_eq5d_vas_m3_change"] == 60 - 35
    assert a.derived.notes["prom_scored_here"] == 1  # the discharge one
    row = a.table[(a.table["endpoint"] == "prom_change_eq5d_vas") & (a.table["timepoint"] == "3 months")]
    assert row.iloc[0]["n"] == 1 and row.iloc[0]["estimate"] == 25
