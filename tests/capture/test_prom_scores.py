"""PROM scores on screen: a PROM entered by staff is scored by pdva.proms, and the case page and the
timeline show every score with the value set (or rule) named and VascuQoL-6 marked unverified."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pdva.capture.forms.records import PromForm
from pdva.capture.prom_scores import method_name, ordered, score_line
from pdva.proms.lib import eq5d, scoring
from pdva.proms.models import PromScore
from pdva.registry import models as m
from tests.capture.conftest import submit

PROFILE = {"MO": 2, "SC": 1, "UA": 3, "PD": 2, "AD": 1}


# --- pure helper ---------------------------------------------------------------------------------


def test_value_sets_are_named_with_their_data_version():
    for value_set in eq5d.VALUE_SETS.values():
        name = method_name(value_set.info.method)
        assert name.startswith(value_set.info.label) and eq5d.DATA_VERSION in name
    assert method_name("nrs_0_10") == "numeric rating scale 0-10"
    assert method_name("something_new@1") == "something_new@1"  # unknown: shown as stored, not hidden


def test_vascuqol6_is_never_shown_as_verified():
    line = score_line("vq6_total", scoring.VQ6_RULE, 18, verified=True)
    assert not line.verified and "unverified scoring rule" in line.text
    assert line.value == "18" and line.label == "VascuQoL-6 total"


def test_primary_value_set_first_and_missing_values_say_so():
    primary = eq5d.VALUE_SETS[eq5d.PRIMARY_VALUE_SET].info.method
    other = eq5d.VALUE_SETS["england_5l_devlin_2018"].info.method
    lines = ordered(
        [
            score_line("eq5d_vas", "eq5d_vas_0_100", 70),
            score_line("eq5d_index", other, Decimal("0.5")),
            score_line("eq5d_index", primary, None, note="the DSU mapping needs the respondent's age"),
        ]
    )
    assert [(s.measure, s.primary) for s in lines] == [
        ("eq5d_index", True),
        ("eq5d_index", False),
        ("eq5d_vas", True),
    ]
    assert lines[0].value == "not scored" and lines[1].value == "0.500"


# --- through the capture screens -----------------------------------------------------------------

pytestmark = pytest.mark.django_db


def enter_prom(client, case, instrument: str, responses: dict, **extra):  # type: ignore[no-untyped-def]
    instance = m.PromAdministration(patient=case.patient, procedure=case)
    values = {
        "instrument": instrument,
        "mode": "paper",
        "completed_date": dt.date(2025, 4, 10),
        "completion_status": "complete",
        **{f"item_{instrument}_{code}": level for code, level in responses.items()},
        **extra,
    }
    return submit(client, f"/cases/prom/new/{case.uuid}/", PromForm, instance, parent=case, **values)


def test_eq5d_entered_by_staff_is_scored_with_every_value_set_and_shown(alice, login, case_a):
    client = login(alice)
    r = enter_prom(client, case_a, "eq5d5l", {**PROFILE, "VAS": 65})
    assert r.status_code == 302
    adm = m.PromAdministration.objects.get()
    profile = "".join(str(PROFILE[d]) for d in eq5d.DIMENSIONS)
    rows = {s.method: s for s in PromScore.objects.filter(administration=adm, measure="eq5d_index")}
    assert set(rows) == {eq5d.VALUE_SETS[v].info.method for v in eq5d.FIVE_LEVEL_SETS}
    england = eq5d.VALUE_SETS["england_5l_devlin_2018"]
    assert float(rows[england.info.method].value) == pytest.approx(eq5d.index(england.info.id, profile))
    # The administration carries the primary (NICE DSU) index, derived from the patient's age and sex.
    assert adm.score_method.startswith(eq5d.PRIMARY_VALUE_SET + "@")

    for url in (f"/cases/case/{case_a.uuid}/", f"/cases/patients/{case_a.patient.uuid}/"):
        page = client.get(url).content.decode()
        assert england.info.label in page
        assert f"{eq5d.index(england.info.id, profile):.3f}" in page
        assert eq5d.VALUE_SETS[eq5d.PRIMARY_VALUE_SET].info.label in page and "primary" in page
        assert "EQ VAS <strong>65</strong>" in page
    events = [e for e in client.get(f"/cases/case/{case_a.uuid}/").context["case"].events if e.scores]
    assert len(events) == 1 and events[0].record == adm
    assert [s.measure for s in events[0].scores][:1] == ["eq5d_index"] and events[0].scores[0].primary


def test_vascuqol6_total_is_marked_unverified_on_the_case_page_and_timeline(alice, login, case_a):
    client = login(alice)
    responses = {f"VQ{i}": 3 for i in range(1, 7)}
    assert enter_prom(client, case_a, "vascuqol6", responses).status_code == 302
    score = PromScore.objects.get(measure="vq6_total")
    assert score.value == 18 and not score.verified
    case_page = client.get(f"/cases/case/{case_a.uuid}/").content.decode()
    list_part = case_page[case_page.index('id="list-prom"') :]
    timeline_part = case_page[case_page.index('class="timeline"') : case_page.index('id="list-prom"')]
    for part in (list_part, timeline_part):
        assert "VascuQoL-6 total <strong>18</strong>" in part and "unverified scoring rule" in part


def test_editing_the_responses_rescores_and_a_new_instrument_drops_old_scores(alice, login, case_a):
    client = login(alice)
    enter_prom(client, case_a, "pain_nrs", {"NRS": 7})
    adm = m.PromAdministration.objects.get()
    assert PromScore.objects.get(administration=adm).value == 7
    r = submit(
        client,
        f"/cases/prom/{adm.uuid}/",
        PromForm,
        adm,
        parent=case_a,
        item_pain_nrs_NRS=3,
        reason="transcription error",
    )
    assert r.status_code == 302
    assert PromScore.objects.alive().get(administration=adm).value == 3
    adm.refresh_from_db()
    r = submit(
        client,
        f"/cases/prom/{adm.uuid}/",
        PromForm,
        adm,
        parent=case_a,
        instrument="vascuqol6",
        **{f"item_vascuqol6_VQ{i}": 2 for i in range(1, 7)},
        reason="wrong questionnaire selected",
    )
    assert r.status_code == 302
    assert list(PromScore.objects.alive().filter(administration=adm).values_list("measure", "value")) == [
        ("vq6_total", 12)
    ]
    gone = PromScore.objects.get(administration=adm, measure="pain_nrs")
    assert gone.deleted_at is not None and "wrong questionnaire" in gone.deleted_reason


def test_an_incomplete_eq5d_says_why_it_is_not_scored(alice, login, case_a):
    client = login(alice)
    r = enter_prom(client, case_a, "eq5d5l", {"MO": 1, "SC": 1}, completion_status="partial")
    assert r.status_code == 302
    page = client.get(f"/cases/case/{case_a.uuid}/").content.decode()
    assert "not scored" in page and "missing dimension(s) UA, PD, AD" in page


def test_a_prom_saved_before_scoring_existed_is_scored_when_next_saved(alice, login, case_a):
    from pdva.audit.context import audit_context

    with audit_context(label="test:import", reason="loaded without scores"):
        adm = m.PromAdministration(
            patient=case_a.patient,
            procedure=case_a,
            instrument="pain_nrs",
            mode="paper",
            completed_date=dt.date(2025, 4, 1),
            responses={"NRS": 5},
        )
        adm.save()
    client = login(alice)
    assert "Pain NRS" not in client.get(f"/cases/case/{case_a.uuid}/").content.decode()
    # Saved again with no change of the user's: the score is derived, with its own reason in the audit trail.
    r = submit(client, f"/cases/prom/{adm.uuid}/", PromForm, adm, parent=case_a)
    assert r.status_code == 302
    adm.refresh_from_db()
    assert adm.score == 5 and adm.score_method == "nrs_0_10"
    assert "Pain NRS <strong>5</strong>" in client.get(f"/cases/case/{case_a.uuid}/").content.decode()
