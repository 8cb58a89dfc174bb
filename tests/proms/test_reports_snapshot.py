"""/prom/reports/ reads a stored snapshot of the viewer's sites (pdva.reports.services.snapshots, scopes
"prom:all" and "prom:<ids>"), computed off the request, never the whole PROM analysis per page view."""

from __future__ import annotations

import pytest

from pdva.reports.services import snapshots
from tests.proms.test_reports_baseline import adm, days, patient_with_procedure


@pytest.fixture
def queued(monkeypatch):  # type: ignore[no-untyped-def]
    """The job queue as a list: what pages asked for, nothing run until the test says so."""
    asked: list[str] = []
    monkeypatch.setattr(snapshots, "_dispatch", lambda key, run_after=None: asked.append(key))
    return asked


def test_prom_scope_keys_are_sorted_site_lists_or_all() -> None:
    assert snapshots.prom_scope(None).key == "prom:all"
    assert snapshots.prom_scope(None).site_ids is None
    scope = snapshots.prom_scope([3, 1, 3])
    assert (scope.key, scope.kind, scope.site_ids) == ("prom:1,3", "prom", (1, 3))
    assert snapshots.parse_scope("prom:1,3") == scope
    for bad in ("prom:", "prom:3,1", "prom:1,1", "prom:x", "prom:1,"):
        with pytest.raises(snapshots.UnknownScope):
            snapshots.parse_scope(bad)


@pytest.mark.django_db
def test_page_shows_the_snapshot_of_the_viewers_sites_and_queues_a_refresh_after_a_change(
    alice, bob, login, site_a, site_b, queued
) -> None:
    patient, procedure = patient_with_procedure(site_a)
    adm(patient, procedure, "unscheduled", days(-60), 40)
    adm(patient, procedure, "m3", days(91), 70)
    client = login(alice)
    first = client.get("/prom/reports/").content.decode()
    key = f"prom:{site_a.pk}"
    assert 'id="snapshot-computing"' in first and queued == [key]
    snapshots.refresh_snapshot(key)
    page = client.get("/prom/reports/").content.decode()
    assert 'id="snapshot-as-of"' in page and 'id="snapshot-stale"' not in page
    assert "EQ VAS (0-100)" in page and "30.000" in page  # baseline 40, 3 months 70
    assert "90 days up to and including the procedure date" in page

    # Site B's viewer has their own scope, without site A's pair.
    snapshots.refresh_snapshot(f"prom:{site_b.pk}")
    other = login(bob).get("/prom/reports/").content.decode()
    assert "No baseline and follow-up pairs yet." in other and "30.000" not in other

    adm(patient, procedure, "m6", days(182), 80)  # a new scored PROM at site A: the snapshot is out of date
    stale = client.get("/prom/reports/").content.decode()
    assert 'id="snapshot-stale"' in stale and queued[-1] == key


@pytest.mark.django_db
def test_national_viewer_reads_the_all_sites_scope(nora, login, site_a, queued) -> None:
    patient, procedure = patient_with_procedure(site_a)
    adm(patient, procedure, "unscheduled", days(-60), 40)
    adm(patient, procedure, "m3", days(91), 70)
    response = login(nora).get("/prom/reports/")
    assert response.status_code == 200 and queued == ["prom:all"]
    snapshots.refresh_snapshot("prom:all")
    assert "30.000" in login(nora).get("/prom/reports/").content.decode()
