"""First authenticator set-up only with a one-time activation code issued to the user."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.management import call_command
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdva.accounts.models import ActivationCode, code_digest
from pdva.audit.models import AuditEntry
from tests.accounts.conftest import issue_code, password_client

pytestmark = pytest.mark.django_db
RECOVERY_CODE = re.compile(r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>")


def test_password_alone_shows_no_secret(alice):
    client = password_client(alice)
    page = client.get("/accounts/two-factor/")
    body = page.content.decode()
    assert page.status_code == 200 and "activation code" in body
    assert "Key:" not in body and "data:image/png" not in body
    assert not TOTPDevice.objects.filter(user=alice).exists()  # no key was even made
    # and a guessed code cannot confirm anything
    assert client.post("/accounts/two-factor/", {"token": "123456"}).status_code == 200
    assert not TOTPDevice.objects.filter(user=alice, confirmed=True).exists()


def test_activation_code_then_enrolment_then_recovery_codes(alice):
    raw = issue_code(alice)
    client = password_client(alice)
    response = client.post("/accounts/activate/", {"code": raw.lower().replace("-", " ")})  # typed loosely
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/"
    page = client.get("/accounts/two-factor/")
    assert b"Set up your authenticator" in page.content and b"Key:" in page.content
    device = TOTPDevice.objects.get(user=alice)
    done = client.post("/accounts/two-factor/", {"token": f"{totp(device.bin_key):06d}"})
    assert done.status_code == 302 and done["Location"] == "/accounts/recovery-codes/"
    codes_page = client.get("/accounts/recovery-codes/")
    assert len(RECOVERY_CODE.findall(codes_page.content.decode())) == 10
    assert client.get("/").status_code == 200
    actions = list(AuditEntry.objects.filter(object_id=str(alice.pk)).values_list("action", flat=True))
    for action in (
        "accounts.activation.issued",
        "accounts.activation.used",
        "accounts.two_factor.enrolled",
        "accounts.recovery_codes.generated",
    ):
        assert action in actions


def test_the_link_asks_before_it_uses_the_code(alice):
    raw = issue_code(alice)
    client = password_client(alice)
    page = client.get(f"/accounts/activate/{raw}/")
    assert page.status_code == 200 and raw.encode() in page.content
    assert ActivationCode.objects.get(user=alice).used_at is None  # a mail scanner opening it uses nothing


def test_code_is_single_use_and_stored_hashed(alice):
    raw = issue_code(alice)
    stored = ActivationCode.objects.get(user=alice)
    assert stored.code_hash == code_digest(raw) and raw not in stored.code_hash
    assert client_redeems(alice, raw).status_code == 302
    second = client_redeems(alice, raw)
    assert second.status_code == 200 and "already been used" in second.content.decode()


def client_redeems(user, raw):  # type: ignore[no-untyped-def]
    return password_client(user).post("/accounts/activate/", {"code": raw})


def test_code_expires(alice):
    from django.utils import timezone

    from pdva.audit.context import audit_context

    raw = issue_code(alice)
    code = ActivationCode.objects.get(user=alice)
    code.expires_at = timezone.now() - dt.timedelta(minutes=1)  # as if 72 hours had passed
    with audit_context(label="test:clock", reason="test: expiry reached"):
        code.save()
    response = client_redeems(alice, raw)
    assert "has expired" in response.content.decode()
    code.refresh_from_db()
    assert code.used_at is None


def test_default_expiry_is_configurable(alice, settings):
    settings.PDVA_ACTIVATION_HOURS = 5
    issue_code(alice)
    code = ActivationCode.objects.get(user=alice)
    assert code.expires_at - code.created_at == dt.timedelta(hours=5)


def test_someone_elses_code_is_refused(alice, bob):
    raw = issue_code(bob)
    response = client_redeems(alice, raw)
    assert "not valid" in response.content.decode()
    assert ActivationCode.objects.get(user=bob).used_at is None


def test_a_new_code_revokes_the_old_one(alice):
    first = issue_code(alice)
    issue_code(alice)
    assert "already been used or was replaced" in client_redeems(alice, first).content.decode()


def test_wrong_codes_count_towards_the_lockout(alice):
    client = password_client(alice)
    for _ in range(5):
        client.post("/accounts/activate/", {"code": "AAAAA-BBBBB-CCCCC-DDDDD"})
    from django.test import Client

    again = Client().post(
        "/accounts/login/", {"username": "alice", "password": "correct horse battery staple"}
    )
    assert again.status_code == 429


def test_command_prints_a_code_that_works(alice, capsys):
    call_command("activation", "alice", "--hours", "2")
    out = capsys.readouterr().out
    raw = next(line.strip() for line in out.splitlines() if line.strip().count("-") == 3 and "/" not in line)
    assert "/accounts/activate/" in out
    assert client_redeems(alice, raw).status_code == 302
    entry = AuditEntry.objects.filter(action="accounts.activation.issued").last()
    assert entry.actor_label == "system:pdva activation" and raw not in str(entry.after)


def test_admin_action_shows_the_code_once(alice, sam, login):
    client = login(sam)
    response = client.post(
        "/admin/auth/user/", {"action": "issue_activation_codes", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 200
    body = response.content.decode()
    stored = ActivationCode.objects.get(user=alice)
    shown = [
        w for w in body.replace("<", " ").replace(">", " ").split() if code_digest(w) == stored.code_hash
    ]
    assert shown, "the issued code is on the page"
    assert AuditEntry.objects.filter(action="accounts.activation.issued", actor_label="sam").exists()


def test_demo_users_still_sign_in_with_the_password(settings, site_a):
    from pdva.core.demo import DEMO_PASSWORD, create_demo_users
    from tests.factories import SiteFactory

    SiteFactory(ods_code="ZZZ", name="Site Z")
    settings.PDVA_DEMO_MODE = True
    create_demo_users()
    from django.test import Client

    client = Client()
    assert (
        client.post("/accounts/login/", {"username": "demo-clinician", "password": DEMO_PASSWORD}).status_code
        == 302
    )
    assert client.get("/").status_code == 200


def test_email_invitation_sends_a_working_link(alice, sam, login, settings):
    from django.core import mail

    from pdva.audit.context import audit_context

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PDVA_PUBLIC_BASE_URL = "https://registry.example.nhs.uk"
    alice.email = "alice@site-a.example"
    with audit_context(label="test:factory"):
        alice.save()
    response = login(sam).post(
        "/admin/auth/user/", {"action": "email_activation_links", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["alice@site-a.example"]
    link = re.search(r"https://registry\.example\.nhs\.uk/accounts/activate/([A-Z0-9-]+)/", message.body)
    assert link, message.body
    assert client_redeems(alice, link.group(1)).status_code == 302


def test_email_without_a_mail_server_fails_visibly(alice, settings):
    from django.core.management.base import CommandError

    from pdva.audit.context import audit_context

    settings.EMAIL_BACKEND = "pdva.core.mail.NotConfiguredBackend"
    alice.email = "alice@site-a.example"
    with audit_context(label="test:factory"):
        alice.save()
    with pytest.raises(CommandError, match="not sent"):
        call_command("activation", "alice", "--email")


def test_command_refuses_an_unknown_user():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("activation", "ghost")


def test_an_abandoned_set_up_key_is_not_shown_again(alice):
    client = password_client(alice)
    client.post("/accounts/activate/", {"code": issue_code(alice)})
    client.get("/accounts/two-factor/")
    first_key = TOTPDevice.objects.get(user=alice, confirmed=False).key
    later = password_client(alice)
    assert (
        b"Key:" not in later.get("/accounts/two-factor/").content
    )  # that code is spent: a new one is needed
    later.post("/accounts/activate/", {"code": issue_code(alice)})
    later.get("/accounts/two-factor/")
    assert TOTPDevice.objects.get(user=alice, confirmed=False).key != first_key
