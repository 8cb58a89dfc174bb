"""Site worklists: follow-ups due/overdue/missed, missing mandatory data, open queries, MHRA reports."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.capture.schedule import open_timepoints
from pdva.capture.services import worklists as w
from tests.capture.conftest import make_complete
from tests.factories import AdverseEventFactory, DeathFactory, ProcedureFactory, VisitFactory

pytestmark = pytest.mark.django_db


def test_schedule_statuses_on_a_given_day():
    day0 = dt.date(2025, 1, 1)
    items = {t.timepoint: t.status for t in open_timepoints(day0, [], today=day0 + dt.timedelta(days=100))}
    assert items == {"w2_6": "missed", "m3": "overdue"}
    items = open_timepoints(day0, [("w2_6", None)], today=day0 + dt.timedelta(days=70))
    assert [(t.timepoint, t.status) for t in items] == [("m3", "due")]


def test_schedule_goes_on_for_life_and_stops_at_death():
    day0 = dt.date(2020, 1, 1)
    today = dt.date(2025, 1, 15)
    years = [t.year for t in open_timepoints(day0, [], today=today) if t.timepoint == "annual"]
    assert years == [2, 3, 4, 5]
    stopped = open_timepoints(day0, [], today=today, stop=dt.date(2021, 2, 1))
    assert [t.timepoint for t in stopped] == ["w2_6", "m3", "m6", "m12"]
    done = [("annual", 2), ("annual", 3)]
    assert [t.year for t in open_timepoints(day0, done, today=today) if t.timepoint == "annual"] == [4, 5]


def _recent(site, days: int):  # type: ignore[no-untyped-def]
    today = dt.date.today()
    return ProcedureFactory(
        patient__site=site,
        procedure_date=today - dt.timedelta(days=days),
        admission_date=None,
        discharge_date=None,
    )


def test_capture_schedule_for_a_site_only(site_a, site_b):
    today = dt.date.today()
    recent = _recent(site_a, 30)
    _recent(site_b, 30)
    items = w.own_followups({site_a.pk}, today)
    assert [(i.procedure_uuid, i.label, i.status, i.source) for i in items] == [
        (str(recent.uuid), "2-6 weeks", "overdue", "capture")
    ]
    VisitFactory(procedure=recent, visit_date=today - dt.timedelta(days=2), timepoint="w2_6")
    assert w.own_followups({site_a.pk}, today) == []


def test_dead_patients_have_no_follow_up_after_death(site_a):
    today = dt.date.today()
    p = _recent(site_a, 400)
    DeathFactory(patient=p.patient, date_of_death=today - dt.timedelta(days=390))
    assert w.own_followups({site_a.pk}, today) == []


def test_worklist_uses_the_follow_up_engine_when_installed(site_a, site_b):
    pytest.importorskip("pdva.followup.services")
    today = dt.date.today()
    recent = _recent(site_a, 30)
    _recent(site_b, 30)
    items = w.followups({site_a.pk}, today)
    assert items and {i.source for i in items} == {"engine"}
    assert {i.procedure_uuid for i in items} == {str(recent.uuid)}
    assert {i.status for i in items} <= {"due", "overdue", "missed"}
    assert w.followups(set(), today) == []


def test_worklist_falls_back_when_the_engine_fails(site_a, monkeypatch):
    services = pytest.importorskip("pdva.followup.services")

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("engine down")

    monkeypatch.setattr(services, "followup_items", broken)
    _recent(site_a, 30)
    items = w.followups({site_a.pk}, dt.date.today())
    assert [i.source for i in items] == ["capture"]


def test_missing_mandatory_and_mhra_lists(site_a, case_a, site_b):
    complete = make_complete(ProcedureFactory(patient__site=site_a))
    missing = dict(w.missing_mandatory({site_a.pk}))
    assert case_a in missing and complete not in missing
    titles = [t for t, _ in missing[case_a]]
    assert "Selection and baseline" in titles and "Consent and governance checklist" in titles
    serious = AdverseEventFactory(procedure=case_a, serious="yes", mhra_reported="no")
    device = AdverseEventFactory(procedure=case_a, related_to_device="probable")
    AdverseEventFactory(procedure=case_a, serious="yes", mhra_reported="yes")
    AdverseEventFactory(procedure=case_a, serious="no", related_to_device="unlikely")
    AdverseEventFactory(procedure=ProcedureFactory(patient__site=site_b), serious="yes")
    assert w.mhra_unreported({site_a.pk}) == [serious, device]


def test_worklist_page_per_site(alice, nora, login, case_a, site_b):
    AdverseEventFactory(procedure=case_a, serious="yes")
    r = login(alice).get("/cases/worklist/")
    assert r.status_code == 200
    assert [p for p, _ in r.context["missing"]] == [case_a]
    assert len(r.context["mhra"]) == 1
    # A national auditor sees every site, and can narrow to one.
    b_case = ProcedureFactory(patient__site=site_b)
    r = login(nora).get("/cases/worklist/")
    assert {p for p, _ in r.context["missing"]} == {case_a, b_case}
    r = login(nora).get("/cases/worklist/", {"site": site_b.pk})
    assert [p for p, _ in r.context["missing"]] == [b_case]
