"""A new case end to end in a real browser: alice (site clinician) registers a patient and records the
whole case; dave (data manager) raises a query that alice answers and dave closes; alice signs and
locks the case; bob (another site) cannot reach it. Every main page is checked with axe-core."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from pdva.registry import models as m
from tests.browser.conftest import PASSWORD, axe_problems, shot, sign_in
from tests.factories import OperatorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TODAY = dt.date.today()
DAY0 = TODAY - dt.timedelta(days=120)


def d(offset: int) -> str:
    return (DAY0 + dt.timedelta(days=offset)).isoformat()


def fill(page, scope: str, prefix: str, values: dict) -> None:  # type: ignore[no-untyped-def]
    """Fill fields of the form inside ``scope`` in order (branching reveals later fields)."""
    for name, value in values.items():
        selector = f"{scope} [name='{prefix}-{name}']"
        if isinstance(value, list):
            for v in value:
                page.check(f"{selector}[value='{v}']")
        elif isinstance(value, bool):
            page.check(selector) if value else page.uncheck(selector)
        elif page.locator(selector).evaluate("e => e.tagName") == "SELECT":
            page.select_option(selector, str(value))
        else:
            page.fill(selector, str(value))


def save(page, scope: str) -> None:  # type: ignore[no-untyped-def]
    """Click the section's save button and wait for htmx to swap in the 'Saved' section."""
    page.locator(f"{scope} button[type=submit]").click()
    page.wait_for_selector("section .saved")


class Axe:
    """Collects serious/critical axe-core violations page by page."""

    def __init__(self) -> None:
        self.problems: dict[str, list[dict]] = {}

    def check(self, page, name: str) -> None:  # type: ignore[no-untyped-def]
        found = axe_problems(page)
        if found:
            self.problems[name] = found


@pytest.fixture
def people(site_a, site_b, alice, bob, dave):  # type: ignore[no-untyped-def]
    operator = OperatorFactory(site=site_a, code="IR1", display_name="Dr Radiologist")
    return {"operator": operator}


def test_new_case_end_to_end(new_page, people, alice, bob, dave, gina):
    axe = Axe()
    page = new_page()
    sign_in(page, alice)

    # --- register -------------------------------------------------------------------------
    page.goto("/cases/")
    axe.check(page, "patient list")
    page.click("text=Register a new patient")
    fill(page, "form", "", {})
    page.fill("#id_nhs_number", "943 476 5919")
    page.fill("#id_given_name", "Ada")
    page.fill("#id_family_name", "Example")
    page.fill("#id_date_of_birth", "1950-06-15")
    page.select_option("#id_sex", "female")
    axe.check(page, "register")
    shot(page, "01-register")
    page.click("button:has-text('Register')")
    page.wait_for_url(re.compile(r"/cases/procedure/new/"))
    patient = m.Patient.objects.get()
    assert patient.identity.nhs_number == "9434765919"

    # --- index procedure (branching: valvulotomy extent appears once a valvulotomy is chosen) ---
    scope = "section[id^='section-procedure']"
    assert not page.locator("#wrap-procedure-valvulotomy_extent").is_visible()
    fill(
        page,
        scope,
        "procedure",
        {
            "index_limb": "right",
            "procedure_date": d(0),
            "admission_date": d(-1),
            "admission_type": "elective",
            "operator": people["operator"].pk,
            "technique_family": "dedicated_system",
            "device_manufacturer": "LimFlow",
            "device_model": "LimFlow System",
            "device_udi": "(01)00812345678905(10)LOT42",
            "anaesthesia": "general",
            "arterial_access": ["cfa_antegrade"],
            "venous_access": ["pedal_vein_retrograde"],
            "donor_artery": "pta",
            "target_vein": "ptv",
            "crossing_level": "mid_calf",
            "crossing_method": "dedicated_catheter_ultrasound",
            "valvulotomy": "reverse_valvulotome",
            "valvulotomy_extent": "pedal_arch",
            "stent_graft_count": "2",
            "outflow_reached": "plantar_veins",
            "completion_foot_opacification": "yes",
            "conversion_to_open": "no",
            "adjunct_inflow_treatment": ["none"],
            "concomitant_minor_amputation": "no",
            "concomitant_debridement": "no",
            "discharge_date": d(3),
            "discharge_destination": "home",
        },
    )
    axe.check(page, "procedure form")
    save(page, scope)
    procedure = m.Procedure.objects.get()
    assert procedure.technical_success == "yes" and procedure.length_of_stay_days == 4
    page.click("text=Open the case page")
    page.wait_for_url(f"**/cases/case/{procedure.uuid}/")

    # --- baseline: live WIfI/GLASS stage; a network failure keeps what was typed ---------------
    scope = "#section-baseline-new"
    fill(page, scope, "baseline", {"assessment_date": d(-3), "wifi_w": "0", "wifi_i": "2", "wifi_fi": "3"})
    page.wait_for_function("document.querySelector('#stage-output').textContent.includes('disputed')")
    assert "stage 4" in page.inner_text("#stage-output")
    fill(page, scope, "baseline", {"glass_fp_grade": "2", "glass_ip_grade": "4"})
    page.wait_for_function("document.querySelector('#stage-output').textContent.includes('stage III')")
    assert not page.locator("#wrap-baseline-dialysis_modality").is_visible()
    fill(page, scope, "baseline", {"dialysis_dependent": "yes"})
    assert page.locator("#wrap-baseline-dialysis_modality").is_visible()
    fill(
        page,
        scope,
        "baseline",
        {
            "dialysis_modality": "hd",
            "rutherford": "5",
            "wifi_i_basis": "toe_pressure",
            "glass_im_modifier": "P2",
            "no_option_reasons": ["no_distal_target"],
            "no_option_adjudication": "mdt",
            "imaging_reviewed": ["dsa", "duplex"],
            "prior_index_limb_revasc_count": "1",
            "prior_minor_amputation_index": "no",
            "rest_pain_nrs": "6",
            "diabetes": "type2",
            "ckd_stage": "G5",
            "smoking": "ex",
            "ihd": "yes",
            "heart_failure": "no",
            "cerebrovascular": "no",
            "copd": "no",
            "hypertension": "yes",
            "asa_grade": "III",
            "ambulatory_status": "with_aid",
        },
    )
    shot(page, "02-baseline-live-stage")
    page.route("**/cases/baseline/new/**", lambda route: route.abort())
    page.locator(f"{scope} button[type=submit]").click()
    page.wait_for_function(
        "document.querySelector('#section-baseline-new .save-status').textContent.includes('Not saved')"
    )
    assert page.input_value(f"{scope} [name='baseline-rest_pain_nrs']") == "6"
    assert not m.Baseline.objects.exists()
    page.unroute("**/cases/baseline/new/**")
    save(page, scope)
    baseline = m.Baseline.objects.get()
    assert (baseline.wifi_stage, baseline.wifi_stage_status, baseline.glass_stage) == (4, "disputed", "III")

    # --- consent and governance checklist ------------------------------------------------------
    scope = "#section-consent-new"
    fill(
        page,
        scope,
        "consentgovernance",
        {
            "nice_information_given": "yes",
            "shared_decision_making_documented": "yes",
            "uncertainties_discussed": "yes",
            "alternatives_discussed": ["primary_amputation", "conservative_palliative"],
            "consent_date": d(-2),
            "consent_form_version": "v3",
            "registry_consent": "consented",
            "mdt_date": d(-10),
        },
    )
    page.locator(f"{scope} button[type=submit]").click()
    page.wait_for_selector("section[id^='section-consent-'] .saved")
    assert m.ConsentGovernance.objects.get().nice_checklist_complete

    # --- two follow-ups, a reintervention, an adverse event, a PROM ------------------------------
    case_url = f"/cases/case/{procedure.uuid}/"
    for timepoint, offset in (("w2_6", 30), ("m3", 95)):
        page.goto(case_url)
        page.click("text=Add follow-up visit")
        fill(
            page,
            "section",
            "followupvisit",
            {
                "visit_date": d(offset),
                "timepoint": timepoint,
                "contact_mode": "telephone",
                "index_limb_status": "intact",
                "wound_status": "healing",
            },
        )
        save(page, "section")
    assert m.FollowUpVisit.objects.count() == 2

    page.goto(case_url)
    page.click("text=Add reintervention")
    fill(
        page,
        "section",
        "reintervention",
        {
            "date": d(60),
            "planned": "planned",
            "indication": "staged_completion",
            "modalities": ["valvulotomy"],
            "technical_success": "yes",
        },
    )
    save(page, "section")

    page.goto(case_url)
    page.click("text=Add adverse event")
    assert not page.locator("#wrap-adverseevent-bleeding_severity").is_visible()
    fill(page, "section", "adverseevent", {"onset_date": d(5), "category": "bleeding"})
    assert page.locator("#wrap-adverseevent-bleeding_severity").is_visible()
    assert not page.locator("#wrap-adverseevent-steal_grade").is_visible()
    fill(
        page,
        "section",
        "adverseevent",
        {
            "bleeding_severity": "barc2",
            "clavien_dindo": "II",
            "serious": "no",
            "related_to_device": "not_related",
            "related_to_procedure": "probable",
            "outcome": "resolved",
            "resolution_date": d(10),
        },
    )
    axe.check(page, "adverse event form")
    shot(page, "03-adverse-event-branching")
    save(page, "section")

    page.goto(case_url)
    page.click("text=Add PROM administration")
    fill(
        page,
        "section",
        "promadministration",
        {"instrument": "pain_nrs", "mode": "paper", "completed_date": d(30)},
    )
    assert page.locator("#wrap-promadministration-item_pain_nrs_NRS").is_visible()
    assert not page.locator("#wrap-promadministration-item_eq5d5l_MO").is_visible()
    fill(page, "section", "promadministration", {"item_pain_nrs_NRS": "3"})
    save(page, "section")
    assert m.PromAdministration.objects.get().responses == {"NRS": 3}

    page.goto(case_url)
    page.click("text=Add medication episode")
    fill(
        page,
        "section",
        "medication",
        {
            "agent": "rivaroxaban",
            "indication": "post_dva",
            "dose": "2.5",
            "frequency": "bd",
            "start_date": d(1),
            "stop_date": d(91),
            "stop_reason": "planned_end",
        },
    )
    save(page, "section")
    assert re.search(r"/cases/medication/[0-9a-f-]{36}/$", page.url), (
        "the new record's address replaces /new/"
    )
    assert m.Medication.objects.get().drug_class == "anticoagulant"

    page.goto(f"/cases/patients/{patient.uuid}/")
    assert "Rivaroxaban 2.5 mg" in page.inner_text(".bars")
    timeline = page.inner_text(".timeline")
    for text in (
        "Baseline assessment",
        "Index pDVA",
        "Adverse event: Bleeding",
        "Reintervention",
        "Follow-up: 3 months",
    ):
        assert text in timeline
    assert "day 95" in timeline
    axe.check(page, "patient page")
    shot(page, "04-patient-timeline")

    page.goto(case_url)
    axe.check(page, "case page")
    shot(page, "05-case-page")

    # --- dave raises a query; alice answers; dave closes ---------------------------------------
    dave_page = new_page()
    sign_in(dave_page, dave)
    dave_page.goto(f"/cases/baseline/{baseline.uuid}/")
    axe.check(dave_page, "baseline record page")
    dave_page.select_option("#id_field_name", "rest_pain_nrs")
    dave_page.fill("#id_question", "Rest pain 6 but Rutherford 5: please confirm the NRS.")
    dave_page.click("button:has-text('Open query')")
    dave_page.wait_for_url(re.compile(r"/cases/queries/\d+/"))
    query_url = dave_page.url

    page.goto("/cases/worklist/")
    assert "please confirm the NRS" in page.inner_text("#queries")
    axe.check(page, "worklist")
    shot(page, "06-worklist")
    page.click("#queries >> text=Rest pain 6")
    page.fill("#id_response", "Confirmed with the patient: NRS 6 at rest.")
    page.click("button:has-text('Save answer')")
    page.wait_for_selector("text=Answer saved")
    axe.check(page, "query page")

    dave_page.goto(query_url)
    dave_page.fill("#id_close_note", "Thank you")
    dave_page.click("button:has-text('Close query')")
    dave_page.wait_for_selector("text=Query closed.")
    shot(dave_page, "07-query-closed")

    # --- alice signs and locks ---------------------------------------------------------------
    page.goto(case_url)
    page.click("text=Sign and lock the case")
    axe.check(page, "sign-off page")
    page.fill("#id_password", PASSWORD)
    page.check("#id_confirm")
    page.click("button:has-text('Sign and lock')")
    page.wait_for_selector("text=Signed by alice")
    procedure.refresh_from_db()
    assert procedure.locked_at is not None and procedure.signed_off_by == alice
    shot(page, "08-signed-and-locked")
    page.goto(f"/cases/baseline/{baseline.uuid}/")
    assert "Locked: this record is part of a case signed off" in page.inner_text("main")
    page.goto(f"/cases/baseline/{baseline.uuid}/history/")
    axe.check(page, "history page")

    # --- bob, at another site, cannot reach it by URL ----------------------------------------
    bob_page = new_page()
    sign_in(bob_page, bob)
    for url in (case_url, f"/cases/patients/{patient.uuid}/", f"/cases/baseline/{baseline.uuid}/", query_url):
        response = bob_page.goto(url)
        assert response.status == 404, url
        assert "Ada" not in bob_page.content() and patient.registry_id not in bob_page.content()

    # --- tablet portrait width still lays out ------------------------------------------------
    tablet = new_page(width=768, height=1024)
    sign_in(tablet, gina)  # a fresh sign-in: a TOTP code is accepted once per 30 seconds per user
    tablet.goto(case_url)
    shot(tablet, "09-case-page-tablet-portrait")
    assert tablet.evaluate("document.documentElement.scrollWidth") <= 768

    assert not axe.problems, axe.problems
