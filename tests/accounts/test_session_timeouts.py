"""Idle timeout (PDVA_IDLE_TIMEOUT_MINUTES, default 30) and the absolute limit (SESSION_COOKIE_AGE, 8 h);
lockout on the sign-off and unlock re-authentication as on the sign-in form."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.test import Client

from pdva.accounts.middleware import LAST_SEEN, SIGNED_IN_AT, session_expired
from tests.accounts.conftest import PASSWORD, code_now, confirmed_device
from tests.capture.conftest import case_a, complete_case_a  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def _age(client, *, idle: float = 0, since_sign_in: float = 0) -> None:  # type: ignore[no-untyped-def]
    session = client.session
    now = time.time()
    session[LAST_SEEN] = now - idle
    session[SIGNED_IN_AT] = now - since_sign_in
    session.save()


def test_defaults():
    assert django_settings.PDVA_IDLE_TIMEOUT_MINUTES == 30
    assert django_settings.SESSION_COOKIE_AGE == 8 * 3600


def test_active_session_continues(alice, login):
    client = login(alice)
    _age(client, idle=29 * 60, since_sign_in=7 * 3600)
    assert client.get("/").status_code == 200


def test_idle_session_is_signed_out(alice, login):
    client = login(alice)
    _age(client, idle=31 * 60)
    response = client.get("/cases/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert client.get("/").status_code == 302  # the session is gone, not just this request refused
    page = client.get("/accounts/login/")
    assert b"30 minutes without activity" in page.content


def test_idle_limit_is_configurable(alice, login, settings):
    settings.PDVA_IDLE_TIMEOUT_MINUTES = 5
    client = login(alice)
    _age(client, idle=6 * 60)
    assert client.get("/").status_code == 302


def test_absolute_limit_holds_however_active(alice, login):
    client = login(alice)
    _age(client, idle=10, since_sign_in=8 * 3600 + 60)
    assert client.get("/").status_code == 302
    assert client.get("/").status_code == 302


def test_requests_keep_the_session_alive(alice, login):
    client = login(alice)
    _age(client, idle=20 * 60)
    assert client.get("/").status_code == 200
    assert time.time() - client.session[LAST_SEEN] < 5


def test_session_expired_is_pure():
    now = 1_000_000.0
    assert session_expired({SIGNED_IN_AT: now, LAST_SEEN: now}, now) is None
    assert session_expired({SIGNED_IN_AT: now - 100, LAST_SEEN: now - 30 * 60 - 1}, now) == "idle"
    assert session_expired({SIGNED_IN_AT: now - 8 * 3600 - 1, LAST_SEEN: now}, now) == "absolute"
    assert session_expired({}, now) is None


# --- lockout on re-authentication -------------------------------------------------------------------


def _sign(client, procedure, **data):  # type: ignore[no-untyped-def]
    return client.post(f"/cases/case/{procedure.uuid}/sign/", {"confirm": "on", **data})


def test_sign_off_password_guesses_lock_the_account(alice, login, complete_case_a):  # noqa: F811
    client = login(alice)
    for _ in range(4):
        r = _sign(client, complete_case_a, password="wrong password")
        assert r.status_code == 200 and "That password is not right" in r.content.decode()
    locked = _sign(client, complete_case_a, password="wrong password")
    assert locked.status_code == 429
    # the session has ended, and neither the right password here nor at sign-in gets through now
    assert client.get("/").status_code == 302
    again = Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert again.status_code == 429
    complete_case_a.refresh_from_db()
    assert complete_case_a.locked_at is None


def test_sign_off_code_guesses_count_too(alice, login, complete_case_a):  # noqa: F811
    client = login(alice)
    for _ in range(5):
        _sign(client, complete_case_a, token="000000")
    assert Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 429


def test_locked_account_cannot_sign_even_with_the_right_password(alice, login, complete_case_a):  # noqa: F811
    for _ in range(5):
        Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    client = login(alice)
    r = _sign(client, complete_case_a, password=PASSWORD)
    assert r.status_code == 429
    complete_case_a.refresh_from_db()
    assert complete_case_a.locked_at is None


def test_second_factor_guesses_lock_the_account(alice):
    device = confirmed_device(alice)
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    for _ in range(5):
        client.post(
            "/accounts/two-factor/", {"token": "000000" if code_now(device) != "000000" else "111111"}
        )
    assert client.get("/").status_code == 302
    assert Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 429


def test_right_password_still_signs(alice, login, complete_case_a):  # noqa: F811
    r = _sign(login(alice), complete_case_a, password=PASSWORD)
    assert r.status_code == 302
    complete_case_a.refresh_from_db()
    assert complete_case_a.locked_at is not None
