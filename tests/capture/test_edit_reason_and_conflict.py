"""Edits after first entry need a reason and show what changes; a stale edit is refused and shows
what the other person changed; nothing is silently overwritten."""

from __future__ import annotations

import pytest

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.capture.forms import records as f
from pdva.registry import models as m
from tests.capture.conftest import form_errors, post_data, submit
from tests.factories import BaselineFactory

pytestmark = pytest.mark.django_db


def test_edit_without_reason_is_refused_and_shows_the_changes(alice, login, case_a):
    baseline = BaselineFactory(procedure=case_a, rutherford=5)
    client = login(alice)
    url = f"/cases/baseline/{baseline.uuid}/"
    r = submit(client, url, f.BaselineForm, baseline, case_a, rutherford="6")
    assert r.status_code == 200
    assert "Say why you are changing this record" in form_errors(r)["reason"]
    assert ("Rutherford category", "5 - minor tissue loss", "6 - major tissue loss") in r.context[
        "form"
    ].changes
    baseline.refresh_from_db()
    assert baseline.rutherford == 5
    r = submit(client, url, f.BaselineForm, baseline, case_a, rutherford="6", reason="re-examined")
    assert r.status_code == 302
    baseline.refresh_from_db()
    assert baseline.rutherford == 6 and baseline.version == 2
    entry = AuditEntry.objects.filter(object_id=str(baseline.pk), action="registry.baseline.updated").get()
    assert entry.reason == "re-examined" and entry.after == {"rutherford": 6}


def test_unchanged_resave_needs_no_reason(alice, login, case_a):
    baseline = BaselineFactory(procedure=case_a)
    r = submit(login(alice), f"/cases/baseline/{baseline.uuid}/", f.BaselineForm, baseline, case_a)
    assert r.status_code == 302


def test_second_save_of_the_same_version_is_refused_with_their_changes(alice, dave, login, case_a):
    baseline = BaselineFactory(procedure=case_a, rutherford=5, ihd="not_known")
    url = f"/cases/baseline/{baseline.uuid}/"
    # Both open the record at version 1.
    alice_form = post_data(f.BaselineForm(instance=baseline, parent=case_a))
    dave_form = dict(alice_form)
    dave_form.update({"baseline-ihd": "yes", "baseline-reason": "from GP letter"})
    assert login(dave).post(url, dave_form).status_code == 302
    alice_form.update({"baseline-rutherford": "6", "baseline-reason": "re-examined"})
    r = login(alice).post(url, alice_form)
    assert r.status_code == 409
    body = r.content.decode()
    assert "Someone else saved this record after you opened it" in body
    edits = r.context["form"].conflict["edits"]
    assert edits[0]["who"] == "dave" and edits[0]["reason"] == "from GP letter"
    assert ("Ischaemic heart disease", "Not known", "Yes") in edits[0]["changes"]
    baseline.refresh_from_db()
    assert (baseline.rutherford, baseline.ihd, baseline.version) == (5, "yes", 2)


def test_htmx_save_swaps_the_section_in_place(alice, login, case_a):
    client = login(alice)
    instance = m.ConsentGovernance(procedure=case_a)
    data = post_data(f.ConsentForm(instance=instance, parent=case_a))
    data["consentgovernance-nice_information_given"] = "yes"
    r = client.post(f"/cases/consent/new/{case_a.uuid}/", data, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert "HX-Push-Url" not in r, "saved from the case page: the address stays the case page"
    body = r.content.decode()
    assert body.lstrip().startswith("<section") and "Saved: consent and governance checklist." in body
    consent = m.ConsentGovernance.objects.get(procedure=case_a)
    assert f"/cases/consent/{consent.uuid}/" in body  # the section is now the edit form
    # A failed htmx save returns the form with its errors (200 so htmx swaps it) and keeps the input.
    bad = post_data(f.ConsentForm(instance=consent, parent=case_a))
    bad.update({"consentgovernance-consent_date": "2025-04-01", "consentgovernance-reason": "x"})
    r = client.post(f"/cases/consent/{consent.uuid}/", bad, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert (
        'value="2025-04-01"' in r.content.decode()
        and "Consent is dated after the procedure" in r.content.decode()
    )


def test_model_validation_error_after_concurrent_delete_context_is_not_lost(alice, login, case_a):
    """A write outside the form (e.g. a script) between load and save still triggers the version check."""
    baseline = BaselineFactory(procedure=case_a)
    data = post_data(f.BaselineForm(instance=baseline, parent=case_a))
    with audit_context(label="system:test", reason="script"):
        fresh = m.Baseline.objects.get(pk=baseline.pk)
        fresh.smoking = "ex"
        fresh.save(reason="script")
    data.update({"baseline-smoking": "current", "baseline-reason": "patient says"})
    r = login(alice).post(f"/cases/baseline/{baseline.uuid}/", data)
    assert r.status_code == 409
    assert r.context["form"].conflict["edits"][0]["who"] == "system:test"


def test_a_reason_longer_than_the_limit_is_a_field_error_and_nothing_changes(alice, login, case_a):
    from pdva.capture.forms.base import REASON_MAX_LENGTH

    baseline = BaselineFactory(procedure=case_a, rutherford=5)
    url = f"/cases/baseline/{baseline.uuid}/"
    long_reason = "x" * (REASON_MAX_LENGTH + 1)
    r = submit(login(alice), url, f.BaselineForm, baseline, case_a, rutherford="6", reason=long_reason)
    assert r.status_code == 200 and "reason" in form_errors(r)
    baseline.refresh_from_db()
    assert baseline.rutherford == 5 and baseline.version == 1
