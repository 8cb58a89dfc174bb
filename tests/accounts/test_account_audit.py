"""Every change to an account is in the audit trail (who changed whose what), from the administration
screens, the app's own views and commands alike; never a password, a hash or a key."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdva.api.models import ApiToken
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from tests.accounts.conftest import PASSWORD, code_now, confirmed_device, password_client
from tests.factories import UserFactory, grant

pytestmark = pytest.mark.django_db


def _entries(user, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(AuditEntry.objects.filter(object_type="auth.user", object_id=str(user.pk), action=action))


def _no_secret_in_trail(*secrets: str) -> None:
    for entry in AuditEntry.objects.all():
        text = f"{entry.before} {entry.after} {entry.reason}"
        for secret in secrets:
            assert secret not in text, (entry.action, secret)


def test_admin_flag_changes_are_audited_with_before_and_after(alice, sam, login):
    client = login(sam)
    response = client.post(
        f"/admin/auth/user/{alice.pk}/change/",
        {
            "username": "alice",
            "email": "alice@site-a.example",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-05",
            "date_joined_1": "09:00:00",
            "initial-date_joined_0": "2026-01-05",
            "initial-date_joined_1": "09:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    (entry,) = _entries(alice, "accounts.user.updated")
    assert entry.actor_id == sam.pk and entry.actor_label == "sam"
    assert entry.before["is_staff"] is False and entry.after["is_staff"] is True
    assert entry.before["is_superuser"] is False and entry.after["is_superuser"] is True
    assert entry.after["email"] == "alice@site-a.example"
    assert verify_chain() == AuditEntry.objects.count()


def test_admin_password_change_is_audited_without_the_password_or_hash(alice, sam, login):
    client = login(sam)
    response = client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {
            "password1": "another long passphrase 7",
            "password2": "another long passphrase 7",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    (entry,) = _entries(alice, "accounts.user.password_changed")
    assert entry.actor_id == sam.pk
    _no_secret_in_trail("another long passphrase 7", alice.password, alice.password.split("$")[-1])


def test_deactivation_from_code_is_audited(alice, sam):
    alice.is_active = False
    with audit_context(sam, reason="left the trust"):
        alice.save()
    (entry,) = _entries(alice, "accounts.user.updated")
    assert entry.before == {"is_active": True} and entry.after == {"is_active": False}
    assert entry.reason == "left the trust"


def test_sign_in_alone_writes_no_account_change(alice):
    password_client(alice)
    assert not _entries(alice, "accounts.user.updated")


def test_user_created_and_deleted_outside_any_request_is_still_recorded():
    user = UserFactory(username="temp")  # like createsuperuser: no user context
    (created,) = _entries(user, "accounts.user.created")
    assert created.actor_label == "system:no-user-context" and created.after["username"] == "temp"
    pk = user.pk
    user.delete()
    assert AuditEntry.objects.filter(action="accounts.user.deleted", object_id=str(pk)).exists()


def test_group_and_permission_changes_are_audited(alice, sam):
    group = Group.objects.create(name="reviewers")
    with audit_context(sam):
        alice.groups.add(group)
        alice.groups.remove(group)
    assert _entries(alice, "accounts.user.groups_add")[0].after == {"groups": ["reviewers"]}
    assert _entries(alice, "accounts.user.groups_remove")


def test_totp_device_lifecycle_is_audited_without_its_key(alice, sam):
    device = confirmed_device(alice)
    key = device.key
    client = password_client(alice)
    client.post("/accounts/two-factor/", {"token": code_now(device)})  # a sign-in: no account change
    device_entries = AuditEntry.objects.filter(object_type="otp_totp.totpdevice", object_id=str(device.pk))
    assert [e.action for e in device_entries] == ["accounts.totp_device.created"]
    with audit_context(sam, reason="lost phone"):
        device.name = "old phone"
        device.save()
        TOTPDevice.objects.get(pk=device.pk).delete()
    actions = [e.action for e in device_entries.all()]
    assert actions == [
        "accounts.totp_device.created",
        "accounts.totp_device.updated",
        "accounts.totp_device.deleted",
    ]
    assert device_entries.last().actor_id == sam.pk
    _no_secret_in_trail(key)


def test_admin_deleting_a_device_is_audited(alice, sam, login):
    device = confirmed_device(alice)
    response = login(sam).post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="accounts.totp_device.deleted", object_id=str(device.pk))
    assert entry.actor_label == "sam" and entry.before["user_id"] == alice.pk


def test_membership_changes_are_audited(alice, sam, site_b):
    membership = grant(alice, "site_data_manager", site_b)
    assert AuditEntry.objects.filter(
        action="accounts.membership.created", object_id=str(membership.pk)
    ).exists()
    membership.active = False
    with audit_context(sam, reason="moved"):
        membership.save()
    entry = AuditEntry.objects.get(action="accounts.membership.updated", object_id=str(membership.pk))
    assert entry.before == {"active": True} and entry.after == {"active": False} and entry.actor_id == sam.pk


def test_api_tokens_are_audited_without_the_token_or_its_hash(alice, capsys):
    call_command("apitoken", "create", "--user", "alice", "--name", "EPR")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user=alice)
    created = AuditEntry.objects.get(action="api.apitoken.created", object_id=str(token.pk))
    assert created.actor_label == "system:apitoken" and created.after["user_id"] == alice.pk
    call_command("apitoken", "revoke", "--user", "alice", "--prefix", token.prefix)
    assert AuditEntry.objects.filter(action="api.apitoken.updated", object_id=str(token.pk)).exists()
    _no_secret_in_trail(raw, token.token_hash)


def test_recovery_and_activation_codes_are_audited_without_the_codes(alice):
    from pdva.accounts.services import activation, recovery

    with audit_context(alice):
        codes = recovery.generate(alice)
        _, raw = activation.issue(alice)
    assert _entries(alice, "accounts.recovery_codes.generated") and _entries(
        alice, "accounts.activation.issued"
    )
    _no_secret_in_trail(raw, *codes, PASSWORD)
