"""Password reset by email: the same answer whether or not the address has an account, audited, and the
second factor still needed afterwards."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from pdva.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(settings):  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PDVA_PUBLIC_BASE_URL = "https://registry.example.nhs.uk"
    return mail.outbox


def _alice_with_email(alice):  # type: ignore[no-untyped-def]
    from pdva.audit.context import audit_context

    alice.email = "alice@site-a.example"
    with audit_context(label="test:factory"):
        alice.save()
    return alice


def test_unknown_and_known_addresses_get_the_same_answer(alice, mailbox):
    _alice_with_email(alice)
    known = Client().post("/accounts/password-reset/", {"email": "alice@site-a.example"})
    unknown = Client().post("/accounts/password-reset/", {"email": "nobody@nowhere.example"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password-reset/sent/"
    assert len(mailbox) == 1 and mailbox[0].to == ["alice@site-a.example"]


def test_link_uses_the_public_address_and_sets_a_new_password(alice, mailbox):
    _alice_with_email(alice)
    Client().post("/accounts/password-reset/", {"email": "alice@site-a.example"}, HTTP_HOST="127.0.0.1")
    link = re.search(
        r"https://registry\.example\.nhs\.uk(/accounts/password-reset/\S+/\S+/)", mailbox[0].body
    )
    assert link, mailbox[0].body
    client = Client()
    form = client.get(link.group(1), follow=True)
    assert b"Set a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a new long passphrase 42", "new_password2": "a new long passphrase 42"},
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/password-reset/done/"
    alice.refresh_from_db()
    assert alice.check_password("a new long passphrase 42")
    changed = AuditEntry.objects.get(action="accounts.user.password_changed", object_id=str(alice.pk))
    assert (
        changed.actor_id == alice.pk
        and "pbkdf2" not in str(changed.after)
        and "md5" not in str(changed.after)
    )
    assert AuditEntry.objects.filter(
        action="accounts.password_reset.requested", object_id=str(alice.pk)
    ).exists()
    assert AuditEntry.objects.filter(action="accounts.password_reset.completed", actor_id=alice.pk).exists()
    # used once
    assert b"not valid" in client.get(link.group(1), follow=True).content
    # signing in afterwards still needs the second factor
    fresh = Client()
    fresh.post("/accounts/login/", {"username": "alice", "password": "a new long passphrase 42"})
    assert fresh.get("/").status_code == 302


def test_mail_failure_still_shows_the_same_page(alice, settings):
    settings.EMAIL_BACKEND = "pdva.core.mail.NotConfiguredBackend"
    _alice_with_email(alice)
    response = Client().post("/accounts/password-reset/", {"email": "alice@site-a.example"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password-reset/sent/"


def test_sign_in_page_links_to_reset():
    assert b"/accounts/password-reset/" in Client().get("/accounts/login/").content
