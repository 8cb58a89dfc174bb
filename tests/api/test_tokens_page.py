"""Creating, listing and revoking personal API tokens (page and command)."""

from __future__ import annotations

import re

from django.core.management import call_command
from django.test import Client

from pdva.api.models import ApiToken
from tests.api.conftest import call


def test_token_created_on_the_page_works_until_revoked(alice, login):
    client = login(alice)
    page = client.post("/api/tokens/", {"name": "EPR feed", "days": "30"})
    assert page.status_code == 200
    raw = re.search(r'<code id="new-token">([^<]+)</code>', page.content.decode()).group(1)
    assert call(raw, "/api/v1/patients").status_code == 200
    token = ApiToken.objects.get(user=alice)
    assert raw not in client.get("/api/tokens/").content.decode()  # shown once only
    client.post(f"/api/tokens/{token.pk}/revoke/")
    assert call(raw, "/api/v1/patients").json()["error"]["code"] == "token_revoked"


def test_token_page_needs_the_second_factor(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/api/tokens/").status_code == 302


def test_users_cannot_revoke_each_others_tokens(alice, bob, login):
    login(alice).post("/api/tokens/", {"name": "mine", "days": "10"})
    token = ApiToken.objects.get(user=alice)
    assert login(bob).post(f"/api/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_bad_lifetime_is_refused(alice, login):
    response = login(alice).post("/api/tokens/", {"name": "x", "days": "4000"})
    assert response.status_code == 400 and not ApiToken.objects.exists()


def test_command_creates_a_token(alice, capsys):
    call_command("apitoken", "create", "--user", alice.username, "--name", "cli")
    raw = capsys.readouterr().out.strip()
    assert call(raw, "/api/v1/procedures").status_code == 200
