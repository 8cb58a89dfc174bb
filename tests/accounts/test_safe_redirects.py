"""`next` is followed only to this site: after the second factor, after sign-in, after a notice."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from pdva.accounts.redirects import safe_next
from tests.accounts.conftest import code_now, confirmed_device, password_client

pytestmark = pytest.mark.django_db

HOSTILE = [
    "https://evil.example/",
    "//evil.example/path",
    "http://evil.example",
    "javascript:alert(1)",
    "https:///evil.example",
    "\\\\evil.example",
    "/\\evil.example",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_two_factor_ignores_a_next_to_another_site(alice, target):
    device = confirmed_device(alice)
    client = password_client(alice)
    response = client.post("/accounts/two-factor/?next=" + target, {"token": code_now(device)})
    assert response.status_code == 302
    assert response["Location"] == "/"  # home, not the other site


def test_two_factor_follows_a_local_next(alice):
    device = confirmed_device(alice)
    client = password_client(alice)
    response = client.post("/accounts/two-factor/?next=/cases/", {"token": code_now(device)})
    assert response.status_code == 302 and response["Location"] == "/cases/"


def test_the_second_factor_prompt_keeps_where_the_user_was_going(alice):
    client = password_client(alice)
    response = client.get("/cases/?page=2")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/two-factor/?next=%2Fcases%2F%3Fpage%3D2"


def test_sign_in_ignores_a_next_to_another_site(alice):
    from django.test import Client

    response = Client().post(
        "/accounts/login/?next=https://evil.example/",
        {"username": "alice", "password": "correct horse battery staple", "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and "evil.example" not in response["Location"]


@pytest.mark.parametrize("target", HOSTILE)
def test_helper_refuses_other_hosts_and_schemes(target):
    request = RequestFactory().get("/", {"next": target})
    assert safe_next(request) == "/"


def test_helper_refuses_plain_http_from_an_https_page():
    request = RequestFactory().get("/", {"next": "http://testserver/cases/"}, secure=True)
    assert safe_next(request) == "/"
    request = RequestFactory().get("/", {"next": "https://testserver/cases/"}, secure=True)
    assert safe_next(request) == "https://testserver/cases/"


def test_helper_prefers_the_posted_next_and_falls_back_to_the_default():
    request = RequestFactory().post("/?next=/a/", {"next": "/b/"})
    assert safe_next(request) == "/b/"
    assert safe_next(RequestFactory().get("/"), "accounts:login") == "/accounts/login/"
