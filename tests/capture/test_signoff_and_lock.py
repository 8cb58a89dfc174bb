"""Signing a completed case (password or TOTP), locking, and unlocking with a reason."""

from __future__ import annotations

import datetime as dt

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdva.audit.models import AuditEntry
from pdva.capture.forms import records as f
from pdva.capture.kinds import KINDS
from pdva.capture.models import CaseSignOff, DataQuery
from pdva.capture.services.queries import open_query
from pdva.registry import models as m
from tests.capture.conftest import submit
from tests.factories import VisitFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def sign(client, procedure, **data):  # type: ignore[no-untyped-def]
    return client.post(f"/cases/case/{procedure.uuid}/sign/", {"confirm": "on", **data})


def test_incomplete_case_cannot_be_signed(alice, login, case_a):
    r = sign(login(alice), case_a, password=PASSWORD)
    assert r.status_code == 200
    body = r.content.decode()
    assert "Selection and baseline has not been recorded" in body
    assert "Index procedure 10 Mar 2025: missing Admission type, Anaesthesia" in body
    case_a.refresh_from_db()
    assert case_a.locked_at is None


def test_open_query_blocks_sign_off(alice, dave, login, complete_case_a):
    open_query_as(dave, complete_case_a)
    r = sign(login(alice), complete_case_a, password=PASSWORD)
    assert "1 data query is still open" in r.content.decode()


def open_query_as(user, procedure):  # type: ignore[no-untyped-def]
    from pdva.audit.context import audit_context

    with audit_context(user):
        return open_query(user, KINDS["procedure"], procedure, field_name="anaesthesia", question="GA?")


def test_wrong_password_is_refused(alice, login, complete_case_a):
    r = sign(login(alice), complete_case_a, password="wrong password")
    assert r.status_code == 200 and "That password is not right" in r.content.decode()
    complete_case_a.refresh_from_db()
    assert complete_case_a.locked_at is None


def test_sign_with_password_locks_the_case(alice, login, complete_case_a):
    r = sign(login(alice), complete_case_a, password=PASSWORD)
    assert r.status_code == 302
    complete_case_a.refresh_from_db()
    assert complete_case_a.signed_off_by == alice and complete_case_a.locked_at is not None
    entry = CaseSignOff.objects.get(procedure=complete_case_a)
    assert (entry.action, entry.reauthenticated_with) == ("signed", "password")
    assert AuditEntry.objects.filter(action="capture.case.signed", object_id=str(complete_case_a.pk)).exists()


def test_sign_with_totp_code(alice, login, complete_case_a):
    client = login(alice)
    device = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    r = sign(client, complete_case_a, token=f"{totp(device.bin_key):06d}")
    assert r.status_code == 302
    assert CaseSignOff.objects.get(procedure=complete_case_a).reauthenticated_with == "totp"


def test_only_signing_roles_reach_sign_off(dave, gina, login, complete_case_a):
    for user in (dave, gina):
        assert sign(login(user), complete_case_a, password=PASSWORD).status_code == 403


@pytest.fixture
def locked_case(alice, login, complete_case_a):  # type: ignore[no-untyped-def]
    visit = VisitFactory(
        procedure=complete_case_a,
        visit_date=dt.date(2025, 4, 10),
        contact_mode="telephone",
        index_limb_status="intact",
    )
    assert sign(login(alice), complete_case_a, password=PASSWORD).status_code == 302
    complete_case_a.refresh_from_db()
    return complete_case_a, visit


def test_locked_records_cannot_be_edited(alice, login, locked_case):
    procedure, visit = locked_case
    client = login(alice)
    r = submit(
        client,
        f"/cases/visit/{visit.uuid}/",
        f.VisitForm,
        visit,
        procedure,
        pain_nrs="3",
        reason="late entry",
    )
    assert r.status_code == 409
    assert "is locked" in r.content.decode()
    baseline = procedure.baseline
    r = submit(
        client,
        f"/cases/baseline/{baseline.uuid}/",
        f.BaselineForm,
        baseline,
        procedure,
        rutherford="6",
        reason="x",
    )
    assert r.status_code == 409
    r = submit(
        client,
        f"/cases/procedure/{procedure.uuid}/",
        f.ProcedureForm,
        procedure,
        procedure.patient,
        notes="x",
        reason="x",
    )
    assert r.status_code == 409
    visit.refresh_from_db()
    assert visit.pain_nrs is None
    page = client.get(f"/cases/visit/{visit.uuid}/").content.decode()
    assert "<fieldset disabled>" in page and "Locked: this record is part of a case signed off" in page


def test_new_follow_up_can_be_added_to_a_locked_case_but_not_a_baseline(alice, login, locked_case):
    procedure, _ = locked_case
    client = login(alice)
    r = submit(
        client,
        f"/cases/visit/new/{procedure.uuid}/",
        f.VisitForm,
        m.FollowUpVisit(procedure=procedure),
        procedure,
        visit_date=dt.date(2025, 6, 10),
        timepoint="m3",
        contact_mode="telephone",
    )
    assert r.status_code == 302
    later = m.FollowUpVisit.objects.get(procedure=procedure, visit_date=dt.date(2025, 6, 10))
    r = submit(
        client, f"/cases/visit/{later.uuid}/", f.VisitForm, later, procedure, pain_nrs="2", reason="added"
    )
    assert r.status_code == 302, "records added after the signature are not covered by it"


def test_unlock_needs_a_reason_and_voids_the_signature(alice, login, locked_case):
    procedure, visit = locked_case
    client = login(alice)
    r = client.post(f"/cases/case/{procedure.uuid}/unlock/", {"reason": "", "password": PASSWORD})
    assert r.status_code == 200 and "This field is required" in r.content.decode()
    r = client.post(
        f"/cases/case/{procedure.uuid}/unlock/", {"reason": "wrong visit date", "password": PASSWORD}
    )
    assert r.status_code == 302
    procedure.refresh_from_db()
    assert procedure.locked_at is None and procedure.signed_off_at is None and procedure.signed_off_by is None
    unlock = CaseSignOff.objects.get(procedure=procedure, action="unlocked")
    assert unlock.reason == "wrong visit date"
    entry = AuditEntry.objects.get(action="capture.case.unlocked", object_id=str(procedure.pk))
    assert entry.reason == "wrong visit date" and entry.before["signed_off_by"] == alice.pk
    r = submit(
        client, f"/cases/visit/{visit.uuid}/", f.VisitForm, visit, procedure, pain_nrs="3", reason="corrected"
    )
    assert r.status_code == 302


def test_query_answered_then_closed_lets_the_case_be_signed(alice, dave, login, complete_case_a):
    query = open_query_as(dave, complete_case_a)
    login(alice).post(f"/cases/queries/{query.pk}/", {"action": "answer", "response": "Yes, GA"})
    login(dave).post(f"/cases/queries/{query.pk}/", {"action": "close", "close_note": "thanks"})
    assert DataQuery.objects.get(pk=query.pk).status == "closed"
    assert sign(login(alice), complete_case_a, password=PASSWORD).status_code == 302
