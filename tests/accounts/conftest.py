"""Helpers for the sign-in tests: a password-only session, and a TOTP code the device accepts now."""

from __future__ import annotations

import pytest
from django.test import Client

from pdva.audit.context import audit_context

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory


@pytest.fixture(autouse=True)
def _no_otp_throttle(settings):  # type: ignore[no-untyped-def]
    # django-otp delays retries after a failed code; these tests are about our own checks.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def password_client(user) -> Client:  # type: ignore[no-untyped-def]
    """Signed in with the password (through the real sign-in form), second factor not yet given."""
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client


def confirmed_device(user):  # type: ignore[no-untyped-def]
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with audit_context(label="test:factory"):
        return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def code_now(device) -> str:  # type: ignore[no-untyped-def]
    from tests.browser.conftest import current_code

    return current_code(device)


def issue_code(user, **kwargs) -> str:  # type: ignore[no-untyped-def]
    from pdva.accounts.services import activation

    with audit_context(label="test:admin"):
        return activation.issue(user, **kwargs)[1]
