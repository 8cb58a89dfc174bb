"""A patient completes a PROM from their link on a phone-sized screen; the link then refuses a second use."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.context import audit_context
from pdva.proms.services import links
from pdva.registry.models import PromAdministration
from tests.factories import PatientFactory, ProcedureFactory, SiteFactory, make_identity


@pytest.mark.browser
def test_complete_prom_on_a_phone_then_link_is_refused(live_server, transactional_db, phone_page) -> None:
    site = SiteFactory(ods_code="PHN")
    patient = PatientFactory(site=site, sex="male")
    make_identity(patient, dob=dt.date(1948, 2, 1))
    ProcedureFactory(patient=patient)
    with audit_context(label="test:staff", reason="browser test"):
        invitation = links.issue(
            patient=patient,
            procedure=patient.procedures.first(),
            timepoint="m3",
            instruments=["eq5d5l", "pain_nrs"],
            channel="print",
            base_url=live_server.url,
        )
    url = links.link_for(invitation)
    page = phone_page

    page.goto(url)
    assert page.get_by_role("heading", name="Your questionnaire").is_visible()
    assert page.get_by_text("Demonstration wording").is_visible()
    # Fits the phone: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for code, level in {"MO": 1, "SC": 2, "UA": 2, "PD": 3, "AD": 1}.items():
        page.locator(f"label[for='eq5d5l__{code}_{level}']").tap()
    page.get_by_label("Your answer from 0 to 100").fill("70")
    page.locator("label[for='pain_nrs__NRS_4']").tap()
    page.get_by_role("button", name="Send my answers").tap()
    page.get_by_role("heading", name="Thank you").wait_for()

    saved = {a.instrument: a for a in PromAdministration.objects.filter(patient=patient)}
    assert saved["eq5d5l"].responses == {"MO": 1, "SC": 2, "UA": 2, "PD": 3, "AD": 1, "VAS": 70}
    assert saved["pain_nrs"].responses == {"NRS": 4}
    assert saved["eq5d5l"].score_method.startswith("dsu_5l_to_3l_2022@")

    response = page.goto(url)
    assert response is not None and response.status == 410
    assert page.get_by_role("heading", name="Already completed").is_visible()
    assert page.get_by_text("already been completed").is_visible()
    assert PromAdministration.objects.filter(patient=patient).count() == 2
