"""A user moves to a new authenticator without an administrator: signed in with the second factor, the
password again, then a code from the new app; the old device works until then and never after."""

from __future__ import annotations

import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdva.audit.models import AuditEntry
from tests.accounts.conftest import PASSWORD, password_client

pytestmark = pytest.mark.django_db

URL = "/accounts/two-factor/replace/"


def _new_device(client, user):  # type: ignore[no-untyped-def]
    page = client.post(URL, {"password": PASSWORD})
    assert page.status_code == 302 and page["Location"] == URL
    shown = client.get(URL).content.decode()
    assert "Scan this code with the new authenticator app" in shown
    return TOTPDevice.objects.get(user=user, confirmed=False), shown


def test_alice_replaces_her_authenticator_and_the_old_one_stops_working(alice, login):
    client = login(alice)
    old = TOTPDevice.objects.get(user=alice, confirmed=True)
    new, shown = _new_device(client, alice)
    assert re.search(r"Key: [A-Z2-7]+", shown)
    assert TOTPDevice.objects.filter(pk=old.pk).exists()  # still works until the new one proves itself
    done = client.post(URL, {"token": f"{totp(new.bin_key):06d}"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert list(TOTPDevice.objects.filter(user=alice).values_list("pk", "confirmed")) == [(new.pk, True)]
    assert AuditEntry.objects.filter(action="accounts.two_factor.replaced", object_id=str(alice.pk)).exists()
    # The next sign-in takes a code from the new app, not the old one.
    fresh = password_client(alice)
    refused = fresh.post("/accounts/two-factor/", {"token": f"{totp(old.bin_key):06d}"})
    assert refused.status_code == 200 and "not valid" in refused.content.decode()
    # The code of the next 30-second step (within the device's tolerance): the current one was just used.
    accepted = fresh.post("/accounts/two-factor/", {"token": f"{totp(new.bin_key, drift=1):06d}"})
    assert accepted.status_code == 302


def test_a_wrong_password_or_code_changes_nothing(alice, login):
    client = login(alice)
    old = TOTPDevice.objects.get(user=alice, confirmed=True)
    page = client.post(URL, {"password": "not her password"})
    assert page.status_code == 200 and "That password is not right" in page.content.decode()
    assert not TOTPDevice.objects.filter(user=alice, confirmed=False).exists()
    new, _ = _new_device(client, alice)
    wrong = f"{(totp(new.bin_key) + 1) % 1_000_000:06d}"
    page = client.post(URL, {"token": wrong})
    assert page.status_code == 200 and "That code is not valid" in page.content.decode()
    assert TOTPDevice.objects.get(pk=old.pk).confirmed and not TOTPDevice.objects.get(pk=new.pk).confirmed


def test_without_the_second_factor_there_is_no_replacement(alice):
    client = password_client(alice)  # password only
    page = client.get(URL)
    assert page.status_code == 302 and page["Location"].startswith("/accounts/two-factor/")
    assert client.post(URL, {"password": PASSWORD}).status_code == 302
    assert not TOTPDevice.objects.filter(user=alice).exists()


def test_an_abandoned_replacement_never_shows_the_same_key_again(alice, login):
    client = login(alice)
    first, _ = _new_device(client, alice)
    session = client.session
    del session["pdva_replacing_device"]
    session.save()
    second, _ = _new_device(client, alice)
    assert second.pk != first.pk and second.bin_key != first.bin_key
    assert not TOTPDevice.objects.filter(pk=first.pk).exists()
