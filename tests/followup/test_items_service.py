"""followup_items / compliance_12m over registry data: scoping, events and a constant number of queries."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.followup.services import compliance_12m, followup_items
from tests.factories import AmputationFactory, DeathFactory, VisitFactory
from tests.followup.conftest import make_procedure

PROC = dt.date(2024, 1, 10)
TODAY = dt.date(2025, 11, 1)  # day 661: the 12-month window (days 274-639) has closed


def by_key(items, procedure):  # type: ignore[no-untyped-def]
    return {(i.timepoint, i.year): i for i in items if i.procedure_id == procedure.pk}


@pytest.mark.django_db
def test_items_reflect_visits_deaths_and_amputations(site_a, site_b) -> None:
    seen = make_procedure(site_a, PROC)
    VisitFactory(procedure=seen, timepoint="m12", visit_date=PROC + dt.timedelta(days=360))
    dead = make_procedure(site_a, PROC)
    DeathFactory(patient=dead.patient, date_of_death=PROC + dt.timedelta(days=200))
    amputated = make_procedure(site_b, PROC, index_limb="left")
    AmputationFactory(
        patient=amputated.patient, limb="left", level="above_knee", date=PROC + dt.timedelta(days=50)
    )
    other_limb = make_procedure(site_b, PROC, index_limb="right")
    AmputationFactory(
        patient=other_limb.patient, limb="left", level="above_knee", date=PROC + dt.timedelta(days=50)
    )

    items = followup_items(None, TODAY)
    s = by_key(items, seen)
    assert s[("m12", None)].status == "completed_in_window"
    assert s[("m6", None)].status == "missed"
    assert s[("annual", 2)].status == "due"  # opened 90 days before the 2nd anniversary
    assert s[("annual", 3)].status == "not_yet_due"
    assert s[("m12", None)].patient_registry_id == seen.patient.registry_id
    assert s[("m12", None)].due_date == PROC + dt.timedelta(days=365)
    d = by_key(items, dead)
    assert d[("m3", None)].status == "missed" and d[("m6", None)].status == "not_applicable"
    assert d[("m12", None)].status == "not_applicable"
    a = by_key(items, amputated)[("m6", None)]
    assert a.status == "missed" and not a.limb_assessments_apply and "duplex" not in a.expects
    o = by_key(items, other_limb)[("m6", None)]
    assert o.limb_assessments_apply and "duplex" in o.expects

    only_a = followup_items([site_a.pk], TODAY)
    assert {i.site_id for i in only_a} == {site_a.pk}
    assert followup_items([], TODAY) == []  # fail closed
    overdue = followup_items(None, TODAY, statuses={"missed"})
    assert overdue and all(i.status == "missed" for i in overdue)


@pytest.mark.django_db
def test_compliance_per_site_and_national(site_a, site_b) -> None:
    in_window = make_procedure(site_a, PROC)
    VisitFactory(procedure=in_window, timepoint="m12", visit_date=PROC + dt.timedelta(days=300))
    make_procedure(site_a, PROC)  # missed
    late = make_procedure(site_b, PROC)
    VisitFactory(procedure=late, timepoint="m12", visit_date=PROC + dt.timedelta(days=650))
    dead = make_procedure(site_b, PROC)
    DeathFactory(patient=dead.patient, date_of_death=PROC + dt.timedelta(days=100))  # not eligible
    recent = make_procedure(site_b, dt.date(2025, 6, 1))  # undecided
    assert recent

    report = compliance_12m(None, TODAY)
    rows = {r.ods_code: r for r in report.sites}
    assert (rows["AAA"].eligible, rows["AAA"].completed_in_window) == (2, 1)
    assert (rows["BBB"].eligible, rows["BBB"].completed_in_window) == (1, 0)
    assert report.national.eligible == 3 and report.national.completed_in_window == 1
    assert report.national.rate == pytest.approx(1 / 3)
    assert report.national.ci_low < 1 / 3 < report.national.ci_high
    assert [r.ods_code for r in compliance_12m([site_b.pk], TODAY).sites] == ["BBB"]


@pytest.mark.django_db
def test_constant_number_of_queries(site_a, django_assert_max_num_queries) -> None:
    for _n in range(3):
        p = make_procedure(site_a, PROC)
        VisitFactory(procedure=p, timepoint="m3", visit_date=PROC + dt.timedelta(days=90))
    with django_assert_max_num_queries(4) as small:
        followup_items([site_a.pk], TODAY)
    for _n in range(6):
        p = make_procedure(site_a, PROC)
        VisitFactory(procedure=p, timepoint="m6", visit_date=PROC + dt.timedelta(days=180))
        DeathFactory(patient=p.patient, date_of_death=PROC + dt.timedelta(days=400))
    with django_assert_max_num_queries(4) as large:
        followup_items([site_a.pk], TODAY)
    assert len(large.captured_queries) == len(small.captured_queries)
