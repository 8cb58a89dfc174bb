"""Ten single-use recovery codes, shown once, kept only as keyed digests."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from pdva.accounts.models import RecoveryCode, code_digest
from pdva.accounts.services import recovery
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from tests.accounts.conftest import PASSWORD, confirmed_device, password_client

pytestmark = pytest.mark.django_db
CODE = re.compile(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>")


def _codes(user) -> list[str]:  # type: ignore[no-untyped-def]
    with audit_context(user):
        return recovery.generate(user)


def test_page_generates_ten_codes_shown_once(alice, login):
    client = login(alice)
    made = client.post("/accounts/recovery-codes/")
    codes = CODE.findall(made.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    later = client.get("/accounts/recovery-codes/").content.decode()
    assert not CODE.findall(later) and "10 unused recovery codes" in later


def test_codes_are_stored_only_as_digests(alice):
    codes = _codes(alice)
    stored = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    assert stored == {code_digest(c) for c in codes}
    assert not any(c in h or c.replace("-", "") in h for c in codes for h in stored)
    entry = AuditEntry.objects.get(action="accounts.recovery_codes.generated")
    assert not any(c in str(entry.after) for c in codes)


def test_a_code_signs_in_once(alice):
    confirmed_device(alice)
    codes = _codes(alice)
    client = password_client(alice)
    first = client.post("/accounts/two-factor/", {"token": codes[0].upper()})
    assert first.status_code == 302 and client.get("/").status_code == 200
    assert recovery.remaining(alice) == 9
    assert AuditEntry.objects.filter(action="accounts.recovery_code.used", object_id=str(alice.pk)).exists()
    other = password_client(alice)
    reused = other.post("/accounts/two-factor/", {"token": codes[0]})
    assert reused.status_code == 200 and "not valid" in reused.content.decode()
    assert other.get("/").status_code == 302


def test_a_new_set_voids_the_old(alice):
    confirmed_device(alice)
    old = _codes(alice)
    _codes(alice)
    response = password_client(alice).post("/accounts/two-factor/", {"token": old[1]})
    assert "not valid" in response.content.decode()


def test_someone_elses_code_does_not_work(alice, bob):
    confirmed_device(alice)
    confirmed_device(bob)
    bobs = _codes(bob)
    response = password_client(alice).post("/accounts/two-factor/", {"token": bobs[0]})
    assert "not valid" in response.content.decode()


def test_codes_do_not_replace_activation(alice):
    """Without an authenticator (never enrolled) a recovery code cannot sign in either."""
    codes = _codes(alice)
    client = password_client(alice)
    client.post("/accounts/two-factor/", {"token": codes[0]})
    assert client.get("/").status_code == 302


def test_the_page_needs_a_verified_session(alice):
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    response = client.post("/accounts/recovery-codes/")
    assert response.status_code == 302 and not RecoveryCode.objects.exists()
