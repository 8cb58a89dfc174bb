"""Readable audit history of a record, and the live WIfI / GLASS stage display."""

from __future__ import annotations

import pytest

from pdva.audit.context import audit_context
from tests.factories import BaselineFactory

pytestmark = pytest.mark.django_db


def test_history_shows_who_what_and_why_with_labels(alice, login, case_a):
    baseline = BaselineFactory(procedure=case_a, dialysis_dependent="no")
    with audit_context(alice):
        baseline.dialysis_dependent = "yes"
        baseline.dialysis_modality = "hd"
        baseline.save(reason="letter from renal unit")
    r = login(alice).get(f"/cases/baseline/{baseline.uuid}/history/")
    assert r.status_code == 200
    rows = r.context["rows"]
    assert [row.verb for row in rows] == ["Created", "Changed"]
    change = rows[1]
    assert change.entry.actor_label == "alice" and change.entry.reason == "letter from renal unit"
    assert ("Dialysis dependent", "No", "Yes") in change.changes
    assert ("Dialysis modality", "—", "Haemodialysis") in change.changes
    body = r.content.decode()
    assert "letter from renal unit" in body and "Haemodialysis" in body


def test_history_names_foreign_keys(alice, login, case_a):
    r = login(alice).get(f"/cases/procedure/{case_a.uuid}/history/")
    created = dict((label, after) for label, _, after in r.context["rows"][0].changes)
    assert created["Operator"] == str(case_a.operator)


def test_history_of_another_sites_record_is_404(bob, login, case_a):
    assert login(bob).get(f"/cases/procedure/{case_a.uuid}/history/").status_code == 404


@pytest.mark.parametrize(
    "params, expected",
    [
        (
            {"baseline-wifi_w": "0", "baseline-wifi_i": "2", "baseline-wifi_fi": "3"},
            ["stage 4", "W0-I2-fI3", "disputed cell"],
        ),
        ({"wifi_w": "1", "wifi_i": "0", "wifi_fi": "0"}, ["stage 1", "verified secondary"]),
        ({"wifi_w": "1", "wifi_i": "0", "wifi_fi": "0", "unsalvageable": "on"}, ["stage 5"]),
        (
            {"baseline-glass_fp_grade": "2", "baseline-glass_ip_grade": "4"},
            ["GLASS:</strong>\n stage III", "FP2-IP4"],
        ),
        ({"glass_fp_grade": "1", "glass_ip_grade": "1", "glass_ip_severe_calcification": "on"}, ["FP1-IP2"]),
        ({"wifi_w": "7", "wifi_i": "0", "wifi_fi": "0"}, ["enter W, I and fI grades"]),
    ],
)
def test_live_stage(alice, login, params, expected):
    body = login(alice).get("/cases/stage/", params).content.decode()
    for text in expected:
        assert text in body


def test_baseline_form_asks_for_the_live_stage(alice, login, case_a):
    body = login(alice).get(f"/cases/baseline/new/{case_a.uuid}/").content.decode()
    assert 'id="stage-output"' in body and 'hx-get="/cases/stage/"' in body


def test_saved_baseline_shows_its_stage_without_a_request(alice, login, case_a):
    baseline = BaselineFactory(procedure=case_a, wifi_w=0, wifi_i=2, wifi_fi=3)
    body = login(alice).get(f"/cases/baseline/{baseline.uuid}/").content.decode()
    assert "W0-I2-fI3" in body and "disputed cell" in body
