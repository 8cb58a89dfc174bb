"""The governance dashboard in a real browser: sections, charts, and the htmx email button."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from pdva.registry.models import Site
from pdva.registry.synthetic import seed_cohort
from tests.conftest import verified_client
from tests.factories import UserFactory, grant


def _sign_in(page, live_server, user) -> None:  # type: ignore[no-untyped-def]
    client = verified_client(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


@pytest.mark.browser
def test_dashboard_renders_and_email_button_records_failure(page, live_server, transactional_db):  # type: ignore[no-untyped-def]
    seed_cohort(sites=1, patients=20, years=2, seed=5, cutoff=dt.date(2026, 1, 1))
    site = Site.objects.get(ods_code="ZZA")
    lead = UserFactory(username="lead")
    grant(lead, "site_governance_lead", site)
    _sign_in(page, live_server, lead)
    page.goto(live_server.url + reverse("reports:dashboard", args=[site.pk]))
    assert page.locator("h1").inner_text().startswith("Governance dashboard")
    for section in (
        "#endpoints",
        "#curves",
        "#safety",
        "#proms",
        "#strata",
        "#governance",
        "#published",
        "#provenance",
    ):
        assert page.locator(section).is_visible(), section
    assert page.locator("#curves svg").count() >= 3
    proms = page.locator("#proms").inner_text()
    assert "Change from baseline" in proms and "PROM completion per time point" in proms
    assert page.locator("#proms table.prom-change tbody tr").count() == 12  # 4 measures x 3 time points
    page.get_by_role("button", name="Email it to the governance lead now").click()
    page.locator("#sends td").first.wait_for()
    assert "failed" in page.locator("#sends").inner_text() or "sent" in page.locator("#sends").inner_text()
