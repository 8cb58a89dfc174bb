"""Who sees which report: a site sees only itself; national views are aggregate with small cells suppressed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pdva.registry.models import Site
from tests.factories import OperatorFactory, ProcedureFactory


@pytest.fixture
def two_sites(site_a, site_b):  # type: ignore[no-untyped-def]
    for site in (site_a, site_b):
        for _ in range(3):
            ProcedureFactory(patient__site=site)
    return site_a, site_b


def test_site_clinician_sees_own_dashboard_only(two_sites, alice, login):  # type: ignore[no-untyped-def]
    site_a, site_b = two_sites
    c = login(alice)
    page = c.get(reverse("reports:dashboard", args=[site_a.pk]))
    assert page.status_code == 200 and b"Site A Trust" in page.content
    assert c.get(reverse("reports:dashboard", args=[site_b.pk])).status_code == 404
    assert c.get(reverse("reports:governance_pdf", args=[site_b.pk])).status_code == 404
    assert c.get(reverse("reports:workbook", args=[site_b.pk])).status_code == 404
    assert c.get(reverse("reports:national")).status_code == 404
    index = c.get(reverse("reports:index"))
    assert b"Site A Trust" in index.content and b"Site B Trust" not in index.content


def test_other_site_operator_appraisal_is_hidden(two_sites, alice, login):  # type: ignore[no-untyped-def]
    op_b = OperatorFactory(site=two_sites[1])
    assert login(alice).get(reverse("reports:appraisal_pdf", args=[op_b.pk])).status_code == 404


def test_national_auditor_sees_aggregates_with_small_cells_suppressed(two_sites, nora, login):  # type: ignore[no-untyped-def]
    site_a, _ = two_sites
    c = login(nora)
    page = c.get(reverse("reports:national"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;5" in html  # three procedures per site: every site count is suppressed
    assert "Registry ID" not in html
    dash = c.get(reverse("reports:dashboard", args=[site_a.pk])).content.decode()
    assert "counts under 5 are suppressed" in dash
    assert "Open serious or device-related adverse events" not in dash  # no patient-level rows
    # Patient-level workbooks and appraisal of individual operators stay at the site.
    assert c.get(reverse("reports:workbook", args=[site_a.pk])).status_code == 404


@pytest.mark.parametrize("actor", ["rita", "nobody", "sam"])
def test_roles_without_report_access_get_nothing(two_sites, actor, login, request):  # type: ignore[no-untyped-def]
    user = request.getfixturevalue(actor)
    c = login(user)
    site = Site.objects.get(ods_code="AAA")
    for url in (
        reverse("reports:index"),
        reverse("reports:dashboard", args=[site.pk]),
        reverse("reports:national"),
    ):
        assert c.get(url).status_code == 404, url


def test_reports_need_sign_in(two_sites, client):  # type: ignore[no-untyped-def]
    resp = client.get(reverse("reports:index"))
    assert resp.status_code == 302


def test_methods_page_lists_every_endpoint(alice, login):  # type: ignore[no-untyped-def]
    from pdva.outcomes.definitions import ENDPOINTS

    html = login(alice).get(reverse("reports:sap")).content.decode()
    for e in ENDPOINTS:
        assert e.label in html
    assert "competing risk" in html and "last known contact" in html
