"""A new case end to end in a real browser: alice (site clinician) registers a patient and records the
whole case, sees the PROM's score and removes a visit entered in error; dave (data manager) raises a
query that alice answers and dave closes; alice signs and locks the case; bob (another site) cannot
reach it. Every main page is checked with axe-core.

Deterministic waits only: every navigation waits for the new page's load event and its deferred scripts
(``follow``/``ready``), every htmx save waits for its POST response and then for that section's own
'Saved' message (``save``). An earlier version clicked Save on a page reached by a link before htmx had
loaded (Playwright's click waits for the navigation to commit, not to load), so the form was posted the
ordinary way, the 'Saved' message never appeared and the test timed out about once in nine runs."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from pdva.registry import models as m
from tests.browser.conftest import PASSWORD, axe_problems, follow, ready, shot, sign_in
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


def is_htmx_post(response) -> bool:  # type: ignore[no-untyped-def]
    return response.request.method == "POST" and response.request.headers.get("hx-request") == "true"


def save(page, scope: str, title: str) -> None:  # type: ignore[no-untyped-def]
    """Click the section's Save button; wait for htmx's POST to be answered, then for the swapped-in
    section to say 'Saved: <title>' (the record type's title, so an older message cannot match)."""
    ready(page)
    with page.expect_response(is_htmx_post) as answer:
        page.locator(f"{scope} button[type=submit]").click()
    assert answer.value.status == 200, f"save of {title} answered {answer.value.status}"
    page.locator("section .saved", has_text=f": {title}.").wait_for()


def add(page, case_url: str, link: str, slug: str) -> None:  # type: ignore[no-untyped-def]
    """From the case page, open the 'Add ...' page of a record type, ready to fill."""
    page.goto(case_url)
    follow(page, f"text={link}", re.compile(rf"/cases/{slug}/new/"))


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
    follow(page, "text=Register a new patient", re.compile(r"/cases/register/"))
    page.fill("#id_nhs_number", "943 476 5919")
    page.fill("#id_given_name", "Ada")
    page.fill("#id_family_name", "Example")
    page.fill("#id_date_of_birth", "1950-06-15")
    page.select_option("#id_sex", "female")
    axe.check(page, "register")
    shot(page, "01-register")
    follow(page, "button:has-text('Register')", re.compile(r"/cases/procedure/new/"))
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
    save(page, scope, "index procedure")
    procedure = m.Procedure.objects.get()
    assert procedure.technical_success == "yes" and procedure.length_of_stay_days == 4
    follow(page, "text=Open the case page", f"**/cases/case/{procedure.uuid}/")

    # --- baseline: live WIfI/GLASS stage; a network failure keeps what was typed ---------------
    scope = "#section-baseline-new"
    fill(page, scope, "baseline", {"assessment_date": d(-3), "wifi_w": "0", "wifi_i": "2", "wifi_fi": "3"})
    page.wait_for_function("() => document.querySelector('#stage-output').textContent.includes('disputed')")
    assert "stage 4" in page.inner_text("#stage-output")
    fill(page, scope, "baseline", {"glass_fp_grade": "2", "glass_ip_grade": "4"})
    page.wait_for_function("() => document.querySelector('#stage-output').textContent.includes('stage III')")
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
    # Predicates are functions, not strings: a string is eval()ed in the page, which the CSP refuses.
    page.wait_for_function(
        "() => document.querySelector('#section-baseline-new .save-status').textContent.includes('Not saved')"
    )
    assert page.input_value(f"{scope} [name='baseline-rest_pain_nrs']") == "6"
    assert not m.Baseline.objects.exists()
    page.unroute("**/cases/baseline/new/**")
    save(page, scope, "selection and baseline")
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
    save(page, scope, "consent and governance checklist")
    assert m.ConsentGovernance.objects.get().nice_checklist_complete

    # --- two follow-ups, a reintervention, an adverse event, a PROM ------------------------------
    case_url = f"/cases/case/{procedure.uuid}/"
    for timepoint, offset in (("w2_6", 30), ("m3", 95), ("m3", 96)):  # the third: entered in error
        add(page, case_url, "Add follow-up visit", "visit")
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
        save(page, "section", "follow-up visit")
    assert m.FollowUpVisit.objects.count() == 3

    add(page, case_url, "Add reintervention", "reintervention")
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
    save(page, "section", "reintervention")

    add(page, case_url, "Add adverse event", "adverse-event")
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
    save(page, "section", "adverse event")

    add(page, case_url, "Add PROM administration", "prom")
    fill(
        page,
        "section",
        "promadministration",
        {"instrument": "pain_nrs", "mode": "paper", "completed_date": d(30)},
    )
    assert page.locator("#wrap-promadministration-item_pain_nrs_NRS").is_visible()
    assert not page.locator("#wrap-promadministration-item_eq5d5l_MO").is_visible()
    fill(page, "section", "promadministration", {"item_pain_nrs_NRS": "3"})
    save(page, "section", "prom administration")
    assert m.PromAdministration.objects.get().responses == {"NRS": 3}

    add(page, case_url, "Add medication episode", "medication")
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
    save(page, "section", "medication episode")
    assert re.search(r"/cases/medication/[0-9a-f-]{36}/$", page.url), (
        "the new record's address replaces /new/"
    )

    # --- the PROM's score on the case page; a visit entered in error is removed (htmx panel) -----
    page.goto(case_url)
    assert "Pain NRS 3 · numeric rating scale 0-10" in page.inner_text("#list-prom")
    duplicate = m.FollowUpVisit.objects.get(visit_date=DAY0 + dt.timedelta(days=96))
    item = f"#item-{duplicate.uuid}"
    with page.expect_response(lambda r: f"/cases/visit/{duplicate.uuid}/remove/" in r.url):
        page.click(f"{item} >> text=Remove")
    panel = page.locator(f"#remove-{duplicate.uuid}")
    panel.wait_for()
    assert "Follow-up visit" in panel.inner_text() and "3 months" in panel.inner_text()
    axe.check(page, "remove panel")
    shot(page, "05a-remove-entered-in-error")
    panel.locator("textarea").fill("Duplicate of the 3-month visit entered the day before")
    with page.expect_navigation(url=f"**{case_url}"):  # HX-Redirect: the whole page, with new counts
        panel.locator("button:has-text('Remove')").click()
    ready(page)
    assert page.locator(item).count() == 0
    assert "Duplicate of the 3-month visit" in page.inner_text("#list-removed")
    duplicate.refresh_from_db()
    assert duplicate.deleted_at is not None
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
    follow(dave_page, "button:has-text('Open query')", re.compile(r"/cases/queries/\d+/"))
    query_url = dave_page.url

    page.goto("/cases/worklist/")
    assert "please confirm the NRS" in page.inner_text("#queries")
    axe.check(page, "worklist")
    shot(page, "06-worklist")
    follow(page, "#queries >> text=Rest pain 6", re.compile(r"/cases/queries/\d+/"))
    page.fill("#id_response", "Confirmed with the patient: NRS 6 at rest.")
    follow(page, "button:has-text('Save answer')", re.compile(r"/cases/queries/\d+/"))
    page.wait_for_selector("text=Answer saved")
    axe.check(page, "query page")

    dave_page.goto(query_url)
    dave_page.fill("#id_close_note", "Thank you")
    follow(dave_page, "button:has-text('Close query')", re.compile(r"/cases/queries/\d+/"))
    dave_page.wait_for_selector("text=Query closed.")
    shot(dave_page, "07-query-closed")

    # --- alice signs and locks ---------------------------------------------------------------
    page.goto(case_url)
    follow(page, "text=Sign and lock the case", re.compile(r"/sign/$"))
    axe.check(page, "sign-off page")
    page.fill("#id_password", PASSWORD)
    page.check("#id_confirm")
    follow(page, "button:has-text('Sign and lock')", f"**{case_url}")
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
    sign_in(tablet, gina)
    tablet.goto(case_url)
    shot(tablet, "09-case-page-tablet-portrait")
    assert tablet.evaluate("document.documentElement.scrollWidth") <= 768

    assert not axe.problems, axe.problems
