"""Report snapshots: pages show a stored report with its "as of" time, never compute it in the request,
say when the data has moved on, and queue one refresh; the stored figures are the computed ones."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from pdva.reports.lib import snapshot_codec
from pdva.reports.models import ReportSnapshot, SnapshotRequest
from pdva.reports.services import snapshots
from tests.factories import ProcedureFactory

# --- the codec (pure) ----------------------------------------------------------------------------------


def test_codec_round_trips_what_report_contexts_hold():
    when = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
    context = {
        "cutoff": dt.date(2026, 1, 1),
        "generated": when,
        "n": np.int64(12),
        "share": np.float64(0.25),
        "flag": np.bool_(True),
        "missing": float("nan"),
        "na": pd.NA,
        "dose": Decimal("2.5"),
        "rows": [{"label": "AFS", "cells": ("a", "b")}],
        "odd_keys": {"$date": "not a tag", 3: "int key"},
    }
    back = snapshot_codec.loads(snapshot_codec.dumps(context))
    assert back["cutoff"] == dt.date(2026, 1, 1) and type(back["cutoff"]) is dt.date
    assert back["generated"] == when
    assert back["n"] == 12 and type(back["n"]) is int
    assert back["share"] == 0.25 and back["flag"] is True
    assert math.isnan(back["missing"]) and back["na"] is None
    assert back["dose"] == Decimal("2.5")
    assert back["rows"] == [{"label": "AFS", "cells": ["a", "b"]}]
    assert back["odd_keys"] == {"$date": "not a tag", 3: "int key"}


def test_codec_refuses_what_it_cannot_store_faithfully():
    with pytest.raises(TypeError, match="naive datetime"):
        snapshot_codec.dumps({"at": dt.datetime(2026, 1, 1, 12, 0)})
    with pytest.raises(TypeError, match="cannot store a set"):
        snapshot_codec.dumps({"ids": {1, 2}})


def test_scope_keys_are_checked():
    assert snapshots.parse_scope("site:12") == snapshots.Scope("site:12", 12, False)
    assert snapshots.parse_scope("site:12:suppressed").suppress
    assert snapshots.parse_scope("national").site_id is None
    for bad in ("site:", "site:x", "site:1:other", "nationwide", ""):
        with pytest.raises(snapshots.UnknownScope):
            snapshots.parse_scope(bad)


# --- pages ---------------------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):  # type: ignore[no-untyped-def]
    """The job queue as a list: what pages asked for, nothing run until the test says so."""
    asked: list[str] = []
    monkeypatch.setattr(snapshots, "_dispatch", lambda key, run_after=None: asked.append(key))
    return asked


def _dashboard(client, site):  # type: ignore[no-untyped-def]
    response = client.get(reverse("reports:dashboard", args=[site.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_page_without_a_snapshot_queues_one_and_does_not_compute(site_a, gina, login, queued, monkeypatch):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)
    client = login(gina)
    with monkeypatch.context() as m:
        m.setattr(snapshots, "compute", lambda *a, **k: pytest.fail("computed inside the request"))
        page = _dashboard(client, site_a)
        again = _dashboard(client, site_a)
    assert "being computed" in page and "being computed" in again
    assert queued == [f"site:{site_a.pk}"]  # one job for two views
    assert not ReportSnapshot.objects.exists()
    assert SnapshotRequest.objects.filter(scope_key=f"site:{site_a.pk}").exists()

    assert snapshots.run_pending() == ([f"site:{site_a.pk}"], [])  # what the job does
    page = _dashboard(client, site_a)
    assert "Figures as of" in page and 'id="endpoints"' in page and "being computed" not in page
    assert "has changed since" not in page
    assert not SnapshotRequest.objects.exists()


def test_stale_notice_after_a_data_change_and_the_refresh_clears_it(site_a, site_b, gina, login, queued):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)
    snapshots.refresh_snapshot(f"site:{site_a.pk}")
    client = login(gina)
    before = ReportSnapshot.objects.get()
    assert "1 index procedures" in _dashboard(client, site_a)

    ProcedureFactory(patient__site=site_b)  # another site's data: not this report's
    assert "has changed since" not in _dashboard(client, site_a) and queued == []

    ProcedureFactory(patient__site=site_a)
    page = _dashboard(client, site_a)
    assert "The registry has changed since these figures were computed" in page
    assert "1 index procedures" in page  # still the stored figures, instantly
    assert queued == [f"site:{site_a.pk}"]
    _dashboard(client, site_a)
    assert queued == [f"site:{site_a.pk}"]  # not queued twice

    snapshots.run_pending()
    page = _dashboard(client, site_a)
    assert "has changed since" not in page and "2 index procedures" in page
    after = ReportSnapshot.objects.order_by("-as_of", "-pk").first()
    assert after.data_version > before.data_version and after.pk != before.pk


def test_refreshes_of_a_scope_wait_for_the_minimum_interval(site_a, gina, login, settings, monkeypatch):  # type: ignore[no-untyped-def]
    settings.PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS = 300
    asked: list[tuple[str, dt.datetime | None]] = []
    monkeypatch.setattr(snapshots, "_dispatch", lambda key, run_after=None: asked.append((key, run_after)))
    ProcedureFactory(patient__site=site_a)
    key = f"site:{site_a.pk}"
    snap = snapshots.refresh_snapshot(key)
    ProcedureFactory(patient__site=site_a)  # a change a moment after the computation
    page = _dashboard(login(gina), site_a)
    assert asked == [(key, snap.as_of + dt.timedelta(seconds=300))]
    assert "recomputed at most every 5 minutes" in page and "next refresh starts at" in page

    # Once the interval has passed since the newest computation, the refresh may start at once.
    ReportSnapshot.objects.filter(pk=snap.pk).update(as_of=snap.as_of - dt.timedelta(seconds=301))
    SnapshotRequest.objects.all().delete()
    page = _dashboard(login(gina), site_a)
    assert asked[-1] == (key, None) and "a refresh has been queued" in page


def test_a_delayed_refresh_is_a_job_that_waits(site_a, settings):  # type: ignore[no-untyped-def]
    from pdva.jobs.models import Job

    settings.PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS = 300
    ProcedureFactory(patient__site=site_a)
    key = f"site:{site_a.pk}"
    snap = snapshots.refresh_snapshot(key)  # inline jobs in tests: a job due now would run at once
    ProcedureFactory(patient__site=site_a)
    assert snapshots.queue_refresh(key)
    job = Job.objects.get(kind=snapshots.JOB_KIND)
    assert job.state == Job.QUEUED and job.run_after == snap.as_of + dt.timedelta(seconds=300)
    assert ReportSnapshot.objects.filter(scope_key=key).count() == 1  # not computed yet


def test_a_snapshot_from_an_earlier_day_is_shown_as_such_and_refreshed(site_a, gina, login, queued):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)
    snap = snapshots.refresh_snapshot(f"site:{site_a.pk}")
    ReportSnapshot.objects.filter(pk=snap.pk).update(
        cutoff=snap.cutoff - dt.timedelta(days=1), as_of=snap.as_of - dt.timedelta(days=1)
    )
    page = _dashboard(login(gina), site_a)
    assert "computed on an earlier day" in page and queued == [f"site:{site_a.pk}"]


def test_as_of_is_shown_in_uk_time(site_a, gina, login, queued):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)
    snap = snapshots.refresh_snapshot(f"site:{site_a.pk}")
    ReportSnapshot.objects.filter(pk=snap.pk).update(as_of=dt.datetime(2026, 7, 1, 11, 5, tzinfo=dt.UTC))
    page = _dashboard(login(gina), site_a)
    assert "1 Jul 2026, 12:05" in page  # BST is UTC+1


def test_a_failed_refresh_is_shown_and_queued_again(site_a, gina, login, queued, monkeypatch):  # type: ignore[no-untyped-def]
    ProcedureFactory(patient__site=site_a)

    def broken(scope, cutoff):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(snapshots, "compute", broken)
    client = login(gina)
    _dashboard(client, site_a)
    assert snapshots.run_pending() == ([], [f"site:{site_a.pk}"])
    page = _dashboard(client, site_a)
    assert "The last attempt failed: RuntimeError: disk full" in page
    assert queued == [f"site:{site_a.pk}", f"site:{site_a.pk}"]  # the failed one was queued again


def test_stored_figures_are_the_computed_ones(cohort, nora, login, queued):  # type: ignore[no-untyped-def]
    from pdva.reports.services.national import national_report
    from pdva.reports.services.site import site_report

    site = cohort[0]
    today = snapshots.today_uk()
    snapshots.refresh_snapshot("national")
    snapshots.refresh_snapshot(f"site:{site.pk}:suppressed")
    stored = snapshots.stored_context(snapshots.national_scope())
    direct = national_report(cutoff=today)
    for key in ("headline", "strata", "site_indicators", "outliers", "case_mix", "n_procedures"):
        assert stored[key] == snapshot_codec.loads(snapshot_codec.dumps({"v": direct[key]}))["v"], key
    assert [f["rows"] for f in stored["funnels"]] == [f["rows"] for f in direct["funnels"]]
    site_stored = snapshots.stored_context(snapshots.site_scope(site.pk, suppress=True))
    site_direct = site_report(site, cutoff=today, suppress=True)
    for key in ("headline", "safety", "strata", "proms", "completeness", "governance"):
        assert site_stored[key] == snapshot_codec.loads(snapshot_codec.dumps({"v": site_direct[key]}))["v"]

    client = login(nora)
    national = client.get(reverse("reports:national")).content.decode()
    assert "Figures as of" in national and 'id="funnels"' in national and queued == []
    # National viewers get the suppressed scope of a site's dashboard, not the site's own.
    dash = _dashboard(client, site)
    assert "counts under 5 are suppressed" in dash and queued == []


def test_the_command_refreshes_pending_and_named_scopes(site_a, gina, login, queued, capsys):  # type: ignore[no-untyped-def]
    from django.core.management import CommandError, call_command

    ProcedureFactory(patient__site=site_a)
    _dashboard(login(gina), site_a)
    call_command("snapshots", "--pending")
    assert ReportSnapshot.objects.filter(scope_key=f"site:{site_a.pk}").count() == 1
    call_command("snapshots", f"site:{site_a.pk}:suppressed")
    assert ReportSnapshot.objects.filter(scope_key=f"site:{site_a.pk}:suppressed").count() == 1
    with pytest.raises(CommandError, match="unknown report scope"):
        call_command("snapshots", "site:abc")
    for _ in range(snapshots.KEEP_PER_SCOPE + 1):
        snapshots.refresh_snapshot(f"site:{site_a.pk}")
    assert ReportSnapshot.objects.filter(scope_key=f"site:{site_a.pk}").count() == snapshots.KEEP_PER_SCOPE


def test_the_command_refreshes_only_out_of_date_scopes_when_asked(site_a, site_b, queued, capsys):  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    ProcedureFactory(patient__site=site_a)
    call_command("snapshots", "--all")
    computed = {s.scope_key: s.pk for s in ReportSnapshot.objects.all()}
    assert set(computed) == {"national", f"site:{site_a.pk}", f"site:{site_b.pk}"}

    call_command("snapshots", "--all", "--stale")  # nothing changed: nothing computed again
    assert {s.scope_key: s.pk for s in ReportSnapshot.objects.all()} == computed
    assert "0 scope(s) out of date" in capsys.readouterr().out

    ProcedureFactory(patient__site=site_b)  # site B's dashboard and the national page are now behind
    call_command("snapshots", "--all", "--stale")
    assert "2 scope(s) out of date" in capsys.readouterr().out
    newest = {
        key: ReportSnapshot.objects.filter(scope_key=key).order_by("-pk").first().pk for key in computed
    }
    assert newest[f"site:{site_a.pk}"] == computed[f"site:{site_a.pk}"]
    assert newest[f"site:{site_b.pk}"] != computed[f"site:{site_b.pk}"]
    assert newest["national"] != computed["national"]
