"""The follow-up worklist reads the stored statuses: paged, filtered and counted in SQL, scoped to the
user's sites, moved on by the clock between runs, and kept current by the saves that change a course."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.followup.models import FollowUpStatus
from pdva.followup.services import compliance_12m as live_compliance
from pdva.followup.services import followup_items
from pdva.followup.services import worklist as wl
from pdva.followup.services.run import refresh_statuses, run
from tests.factories import AmputationFactory, VisitFactory
from tests.followup.conftest import make_procedure

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def today() -> dt.date:
    return timezone.localdate()


def rows_on_page(html: str) -> list[str]:
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    return re.findall(r'<td><a href="/cases/case/[^"]+/">([^<]+)</a></td>', body)


def test_pages_of_fifty_in_due_date_order_with_counts(alice, login, site_a):
    # Thirteen procedures a year and a half ago: discharge, 2-6 weeks, 3 and 6 months missed for each.
    for n in range(13):
        make_procedure(site_a, today() - dt.timedelta(days=560 + n))
    refresh_statuses(today())
    expected = [r["procedure__patient__registry_id"] for r in wl.worklist({site_a.pk}, today(), ["missed"])]
    assert len(expected) == 52
    client = login(alice)
    first = client.get("/followup/", {"show": "missed"})
    second = client.get("/followup/", {"show": "missed", "page": 2})
    assert first.context["count"] == second.context["count"] == 52
    assert rows_on_page(first.content.decode()) == expected[:50]
    assert rows_on_page(second.content.decode()) == expected[50:]
    assert "Showing 1 to 50 of 52" in first.content.decode()
    assert "Showing 51 to 52 of 52" in second.content.decode()


def test_second_page_shows_the_next_rows(alice, login, site_a, monkeypatch):
    for n in range(4):
        make_procedure(site_a, today() - dt.timedelta(days=560 + n))
    refresh_statuses(today())
    monkeypatch.setattr(wl, "PAGE_SIZE", 5)
    expected = [r["procedure__patient__registry_id"] for r in wl.worklist({site_a.pk}, today(), ["missed"])]
    assert len(expected) == 16
    client = login(alice)
    pages = [client.get("/followup/", {"show": "missed", "page": n}) for n in (1, 2, 4, 99, "x")]
    assert [rows_on_page(p.content.decode()) for p in pages[:3]] == [
        expected[:5],
        expected[5:10],
        expected[15:],
    ]
    assert rows_on_page(pages[3].content.decode()) == expected[15:]  # past the end: the last page
    assert rows_on_page(pages[4].content.decode()) == expected[:5]  # not a number: the first
    html = pages[1].content.decode()
    assert "Showing 6 to 10 of 16" in html
    assert 'href="?show=missed&amp;page=3" rel="next"' in html and 'href="?show=missed" rel="prev"' in html


def test_filters_are_applied_in_the_database(alice, login, site_a):
    old = make_procedure(site_a, today() - 560 * DAY)
    recent = make_procedure(site_a, today() - 30 * DAY)  # 2-6 weeks overdue (target day 28 passed)
    new = make_procedure(site_a, today() - 2 * DAY)  # everything still to come
    refresh_statuses(today())
    client = login(alice)

    def shown(show):  # type: ignore[no-untyped-def]
        return {
            (i.procedure_id, i.timepoint, i.status)
            for i in client.get("/followup/", {"show": show}).context["items"]
        }

    overdue = shown("overdue")
    assert {s for _, _, s in overdue} == {"overdue"}
    assert {(recent.pk, "w2_6"), (old.pk, "m12"), (new.pk, "discharge")} <= {(p, t) for p, t, _ in overdue}
    assert {s for _, _, s in shown("missed")} == {"missed"} and {p for p, _, _ in shown("missed")} == {old.pk}
    upcoming = shown("upcoming")
    assert {s for _, _, s in upcoming} == {"not_yet_due"} and (new.pk, "w2_6", "not_yet_due") in upcoming
    assert shown("open") == shown("overdue") | shown("due")
    assert client.get("/followup/", {"show": "nonsense"}).context["show"] == "open"


def test_worklists_are_scoped_to_the_users_sites(alice, bob, nora, login, site_a, site_b):
    mine = make_procedure(site_a, today() - 560 * DAY)
    theirs = make_procedure(site_b, today() - 560 * DAY)
    refresh_statuses(today())
    alice_rows = {i.procedure_id for i in login(alice).get("/followup/?show=missed").context["items"]}
    bob_page = login(bob).get("/followup/?show=missed")
    assert alice_rows == {mine.pk}
    assert {i.procedure_id for i in bob_page.context["items"]} == {theirs.pk}
    assert mine.patient.registry_id not in bob_page.content.decode()
    assert wl.worklist(set(), today(), ["missed"]).count() == 0  # no site: nothing (fails closed)
    assert wl.counts_by_site({site_b.pk}, today(), ["missed"]).keys() == {site_b.pk}
    national = {i.procedure_id for i in login(nora).get("/followup/?show=missed").context["items"]}
    assert national == {mine.pk, theirs.pk}  # a national role: every site


def test_the_clock_moves_stored_statuses_on_between_runs(site_a):
    procedure = make_procedure(site_a, today() - 200 * DAY)
    refresh_statuses(today() - 150 * DAY)  # the last run, long ago
    shown = {
        (r["timepoint"], r["year"]): r["now"]
        for r in wl.worklist({site_a.pk}, today(), ["due", "overdue", "missed", "not_yet_due"])
    }
    live = {
        (i.timepoint, i.year or 0): i.status
        for i in followup_items({site_a.pk}, today())
        if i.procedure_id == procedure.pk
    }
    assert {k: v for k, v in live.items() if k in shown} == shown
    assert shown[("m3", 0)] == "missed" and shown[("m6", 0)] == "overdue"


def test_saves_keep_a_stored_course_current(alice, login, site_a):
    procedure = make_procedure(site_a, today() - 100 * DAY)
    refresh_statuses(today())
    client = login(alice)

    def m3():  # type: ignore[no-untyped-def]
        return FollowUpStatus.objects.get(procedure=procedure, timepoint="m3").status

    assert m3() == "overdue"
    visit = VisitFactory(procedure=procedure, timepoint="m3", visit_date=today() - DAY)
    assert m3() == "completed_in_window"
    assert procedure.pk not in {
        i.procedure_id for i in client.get("/followup/?show=overdue").context["items"]
    }
    with audit_context(label="test:staff", reason="entered in error"):
        visit.soft_delete(reason="entered in error")
    assert m3() == "overdue"
    # A major amputation of the index limb: the 6-month visit no longer expects limb assessments.
    AmputationFactory(patient=procedure.patient, limb=procedure.index_limb, date=today() - DAY)
    upcoming = client.get("/followup/?show=upcoming").context["items"]
    m6 = next(i for i in upcoming if i.procedure_id == procedure.pk and i.timepoint == "m6")
    assert not m6.limb_assessments_apply and "wound" not in m6.expects and "clinical_review" in m6.expects


def test_the_page_says_which_run_the_statuses_come_from(alice, login, site_a):
    make_procedure(site_a, today() - 560 * DAY)
    client = login(alice)
    assert "has not run yet" in client.get("/followup/?show=missed").content.decode()
    with audit_context(label="system:followup", reason="test run"):
        run(today(), send_digests=False)
    late = make_procedure(site_a, today() - 560 * DAY)  # loaded after the run: not stored yet
    page = client.get("/followup/?show=missed")
    assert late.pk not in {i.procedure_id for i in page.context["items"]} and page.context["count"] == 4
    assert f"Statuses from the daily follow-up run of {today():%-d %b %Y}" in page.content.decode()


def test_compliance_from_stored_statuses_equals_the_live_computation(site_a, site_b):
    for n, site in enumerate([site_a, site_b] * 5):
        p = make_procedure(site, today() - dt.timedelta(days=400 + 37 * n))
        if n % 3 == 0:
            VisitFactory(procedure=p, timepoint="m12", visit_date=p.procedure_date + 365 * DAY)
        elif n % 3 == 1:
            VisitFactory(procedure=p, timepoint="m12", visit_date=p.procedure_date + 250 * DAY)
    refresh_statuses(today())
    stored = wl.compliance_12m(None, today())
    live = live_compliance(None, today())
    assert [(s.ods_code, s.eligible, s.completed_in_window, s.rate) for s in stored.sites] == [
        (s.ods_code, s.eligible, s.completed_in_window, s.rate) for s in live.sites
    ]
    assert stored.national == live.national and stored.national.eligible > 0


def test_page_queries_do_not_grow_with_the_list(alice, login, site_a):
    client = login(alice)
    make_procedure(site_a, today() - 560 * DAY)
    refresh_statuses(today())
    client.get("/followup/?show=missed")
    with CaptureQueriesContext(connection) as small:
        client.get("/followup/?show=missed")
    for n in range(15):
        make_procedure(site_a, today() - dt.timedelta(days=500 + n))
    refresh_statuses(today())
    with CaptureQueriesContext(connection) as large:
        page = client.get("/followup/?show=missed")
    assert page.context["count"] > 50 and len(page.context["items"]) == 50
    assert len(large) == len(small)
