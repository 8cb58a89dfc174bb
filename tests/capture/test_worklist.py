"""Site worklists: follow-ups due/overdue/missed, missing mandatory data, open queries, MHRA reports; each
list paged and filtered in the database and scoped to the user's sites."""

from __future__ import annotations

import datetime as dt
import re
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.capture.models import CaseCompleteness
from pdva.capture.schedule import open_timepoints
from pdva.capture.services import worklists as w
from pdva.capture.views import worklists as worklist_views
from pdva.followup.services.run import refresh_statuses
from pdva.registry import models as m
from tests.capture.conftest import make_complete
from tests.factories import AdverseEventFactory, BaselineFactory, DeathFactory, ProcedureFactory, VisitFactory

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


def today() -> dt.date:
    return timezone.localdate()


def _recent(site, days: int):  # type: ignore[no-untyped-def]
    return ProcedureFactory(
        patient__site=site,
        procedure_date=today() - dt.timedelta(days=days),
        admission_date=None,
        discharge_date=None,
    )


def test_capture_schedule_for_a_site_only(site_a, site_b):
    recent = _recent(site_a, 30)
    _recent(site_b, 30)
    items = w.own_followups({site_a.pk}, today())
    assert [(i.procedure_uuid, i.label, i.status, i.source) for i in items] == [
        (str(recent.uuid), "2-6 weeks", "overdue", "capture")
    ]
    VisitFactory(procedure=recent, visit_date=today() - dt.timedelta(days=2), timepoint="w2_6")
    assert w.own_followups({site_a.pk}, today()) == []


def test_dead_patients_have_no_follow_up_after_death(site_a):
    p = _recent(site_a, 400)
    DeathFactory(patient=p.patient, date_of_death=today() - dt.timedelta(days=390))
    assert w.own_followups({site_a.pk}, today()) == []


def test_follow_ups_come_from_the_stored_statuses(site_a, site_b):
    recent = _recent(site_a, 35)  # discharge window closed, 2-6 weeks target passed
    _recent(site_b, 35)
    refresh_statuses(today())
    listed = w.followup_list({site_a.pk}, today(), ("due", "overdue"))
    items = listed.to_items(list(listed.rows))
    assert listed.source == "engine" and {i.source for i in items} == {"engine"}
    assert {i.procedure_uuid for i in items} == {str(recent.uuid)}
    assert {(i.label, i.status) for i in items} == {("2-6 weeks", "overdue")}
    assert list(w.followup_list(set(), today(), ("due", "overdue")).rows) == []  # no site: nothing


def test_without_the_follow_up_app_the_capture_schedule_is_used(site_a, monkeypatch):
    _recent(site_a, 30)
    import pdva.followup.services

    monkeypatch.delattr(pdva.followup.services, "worklist")
    monkeypatch.setitem(sys.modules, "pdva.followup.services.worklist", None)  # the import fails
    listed = w.followup_list({site_a.pk}, today(), ("overdue",))
    assert listed.source == "capture" and [i.source for i in listed.to_items(listed.rows)] == ["capture"]


def test_missing_mandatory_items_are_stored_on_save_and_listed_from_sql(site_a, case_a, site_b):
    complete = make_complete(ProcedureFactory(patient__site=site_a))
    stored = {row.procedure: row for row in w.missing_mandatory({site_a.pk})}
    assert case_a in stored and complete not in stored
    titles = [t for t, _ in stored[case_a].missing]
    assert titles[:2] == ["Consent and governance checklist", "Selection and baseline"]
    assert stored[case_a].n_missing >= 2
    # Saving the baseline updates the stored row at once.
    BaselineFactory(procedure=case_a)
    row = CaseCompleteness.objects.get(procedure=case_a)
    absent = [list(f) for f in w.ABSENT]
    assert [t for t, fields in row.missing if fields == absent] == ["Consent and governance checklist"]
    # The stored rows are what the checker says, case by case.
    w.refresh_completeness()
    for row in CaseCompleteness.objects.select_related("procedure"):
        case = w.case_prefetch(m.Procedure.objects.filter(pk=row.procedure_id)).get()
        assert row.missing == [[t, [list(f) for f in fs]] for t, fs in w.missing_items(case)]


def test_removed_cases_leave_the_list(site_a, case_a):
    assert case_a in [row.procedure for row in w.missing_mandatory({site_a.pk})]
    with audit_context(label="test:staff", reason="entered in error"):
        case_a.soft_delete(reason="entered in error")
    assert not w.missing_mandatory({site_a.pk}).exists()
    assert not CaseCompleteness.objects.filter(procedure=case_a).exists()


def test_mhra_list(site_a, case_a, site_b):
    serious = AdverseEventFactory(procedure=case_a, serious="yes", mhra_reported="no")
    device = AdverseEventFactory(procedure=case_a, related_to_device="probable")
    AdverseEventFactory(procedure=case_a, serious="yes", mhra_reported="yes")
    AdverseEventFactory(procedure=case_a, serious="no", related_to_device="unlikely")
    AdverseEventFactory(procedure=ProcedureFactory(patient__site=site_b), serious="yes")
    listed = list(w.mhra_unreported({site_a.pk}))
    assert listed == sorted([serious, device], key=lambda ae: (ae.onset_date, ae.pk))
    assert all(ae.needs_mhra_report and ae.mhra_reported != "yes" for ae in listed)


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


def test_bob_at_site_b_sees_nothing_of_site_a(bob, login, site_a, site_b):
    for n in range(3):
        case = _recent(site_a, 200 + n)
        AdverseEventFactory(
            procedure=case, serious="yes", onset_date=case.procedure_date + dt.timedelta(days=5)
        )
    refresh_statuses(today())
    client = login(bob)
    for query in ({}, {"site": site_a.pk}):  # asking for site A by id changes nothing: fails closed
        r = client.get("/cases/worklist/", query)
        assert r.status_code == 200
        for key in ("due", "missed", "missing", "queries", "mhra"):
            assert r.context[key] == [] and r.context["pages"][key].count == 0, key
        assert "AAA" not in r.content.decode()


def _rows(html: str, section: str) -> list[str]:
    part = re.search(rf'<section class="card" id="{section}">(.*?)</section>', html, re.S).group(1)
    return re.findall(r'<tr><td><a href="/cases/case/[^"]+/">([^<]+)</a>', part)


def test_each_list_pages_on_its_own(alice, login, site_a, monkeypatch):
    monkeypatch.setattr(worklist_views, "SECTION_SIZE", 3)
    cases = [_recent(site_a, 300 + n) for n in range(7)]
    refresh_statuses(today())
    client = login(alice)

    def get(**query):  # type: ignore[no-untyped-def]
        return client.get("/cases/worklist/", query)

    first = get()
    assert first.context["pages"]["missing"].count == 7
    expected = [c.patient.registry_id for c in sorted(cases, key=lambda c: (c.procedure_date, c.pk))]
    second = get(missing_page=2)
    third = get(missing_page=3)
    assert _rows(first.content.decode(), "missing") == expected[:3]
    assert _rows(second.content.decode(), "missing") == expected[3:6]
    assert _rows(third.content.decode(), "missing") == expected[6:]
    # Paging one list leaves the others on their first page; links keep the other parameters.
    assert _rows(second.content.decode(), "missed") == _rows(first.content.decode(), "missed")
    html = get(missing_page=2, missed_page=2).content.decode()
    assert 'href="?missing_page=3&amp;missed_page=2#missing"' in html
    missed_all = [
        r["procedure__patient__registry_id"] for r in w.followup_list({site_a.pk}, today(), ("missed",)).rows
    ]
    assert first.context["pages"]["missed"].count == len(missed_all)
    assert [i.registry_id for i in get(missed_page=2).context["missed"]] == missed_all[3:6]


def test_site_filter_is_a_query_parameter_applied_in_sql(nora, login, site_a, site_b):
    a, b = _recent(site_a, 300), _recent(site_b, 300)
    refresh_statuses(today())
    client = login(nora)
    both = client.get("/cases/worklist/")
    only_b = client.get("/cases/worklist/", {"site": site_b.pk})
    assert {i.procedure_uuid for i in both.context["missed"]} == {str(a.uuid), str(b.uuid)}
    assert {i.procedure_uuid for i in only_b.context["missed"]} == {str(b.uuid)}
    assert only_b.context["pages"]["missed"].count < both.context["pages"]["missed"].count


def test_cases_loaded_in_bulk_are_announced_and_checked_later(alice, login, site_a, case_a, monkeypatch):
    asked = []
    monkeypatch.setattr(w, "queue_completeness_check", asked.append)
    CaseCompleteness.objects.all().delete()  # as after a bulk load: nothing stored yet
    page = login(alice).get("/cases/worklist/")
    assert page.context["unchecked"] == 1 and page.context["missing"] == []
    assert "1 case loaded in bulk has not been checked yet" in page.content.decode()
    assert asked == [{site_a.pk}]  # the check is queued, not done in the request
    assert w.refresh_completeness(only_unchecked=True) == 1  # what the job does
    page = login(alice).get("/cases/worklist/")
    assert page.context["unchecked"] == 0 and [p for p, _ in page.context["missing"]] == [case_a]
    assert asked == [{site_a.pk}]


def test_the_completeness_job_checks_the_unchecked_cases(site_a, case_a, settings):
    from django.apps import apps

    if not apps.is_installed("pdva.jobs"):
        pytest.skip("pdva.jobs is not installed")
    from pdva.jobs.models import Job
    from pdva.jobs.services import run_until_idle

    settings.PDVA_JOBS_RUN = "worker"  # queued, run below
    CaseCompleteness.objects.all().delete()
    w.queue_completeness_check({site_a.pk})
    w.queue_completeness_check({site_a.pk})  # the same hour: one job
    assert Job.objects.filter(kind=w.COMPLETENESS_JOB).count() == 1
    run_until_idle()
    assert CaseCompleteness.objects.filter(procedure=case_a).exists()


def test_worklist_queries_do_not_grow_with_the_lists(alice, login, site_a):
    def load(n: int) -> None:
        for k in range(n):
            case = _recent(site_a, 300 + k)
            AdverseEventFactory(
                procedure=case, serious="yes", onset_date=case.procedure_date + dt.timedelta(days=3)
            )
        refresh_statuses(today())

    client = login(alice)
    load(2)
    client.get("/cases/worklist/")
    with CaptureQueriesContext(connection) as small:
        client.get("/cases/worklist/")
    load(60)
    client.get("/cases/worklist/")  # warm as before the small one (the unchecked count is kept a minute)
    with CaptureQueriesContext(connection) as large:
        page = client.get("/cases/worklist/")
    assert page.context["pages"]["missing"].count == 62
    assert len(page.context["missing"]) == worklist_views.SECTION_SIZE
    assert len(large) == len(small)


def test_the_unchecked_count_is_kept_a_minute_and_forgotten_by_a_completeness_run(site_a, case_a):
    CaseCompleteness.objects.all().delete()
    assert w.unchecked_cases({site_a.pk}) == 1
    # A row stored behind the count's back (as another process's run would): the kept count still answers.
    CaseCompleteness.objects.create(
        procedure=case_a,
        site=site_a,
        procedure_date=case_a.procedure_date,
        n_missing=0,
        missing=[],
        computed_at=timezone.now(),
    )
    with CaptureQueriesContext(connection) as again:
        assert w.unchecked_cases({site_a.pk}) == 1
    assert len(again) == 0  # answered from the cache, no whole-table counts
    assert w.unchecked_cases(None) == 0  # another scope is counted afresh
    w.refresh_completeness([case_a.pk])
    assert w.unchecked_cases({site_a.pk}) == 0  # a run in this process forgets the kept counts at once
