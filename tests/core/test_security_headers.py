"""Production security settings: the Content-Security-Policy and the pages that must satisfy it (no inline
script anywhere), HTTPS behind a proxy, and absolute links built from PDVA_PUBLIC_BASE_URL."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

import pdva
from pdva.audit.context import audit_context
from pdva.core.demo import create_demo_users
from pdva.registry.synthetic import seed_cohort
from tests.conftest import verified_client

PUBLIC = "https://registry.example.nhs.uk"
NOT_JAVASCRIPT = {"application/json", "application/ld+json", "text/template"}


class InlineScriptFinder(HTMLParser):
    """Collects what a script-src 'self' policy would refuse or what would load from elsewhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_script: str | None = None  # "inline" while inside a <script> without src

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> handler")
            if name in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}=javascript:...>")
        if tag == "script":
            src = values.get("src") or ""
            if src.startswith(("http:", "https:", "//")):
                self.problems.append(f"script from elsewhere: {src}")
            executable = (values.get("type") or "text/javascript").lower() not in NOT_JAVASCRIPT
            self._in_script = "inline" if executable and not src else "other"
        if tag == "link" and (values.get("href") or "").startswith(("http:", "https:", "//")):
            self.problems.append(f"stylesheet or icon from elsewhere: {values.get('href')}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script == "inline" and data.strip():
            self.problems.append(f"inline script: {data.strip()[:60]!r}")


def csp_problems(html: str) -> list[str]:
    finder = InlineScriptFinder()
    finder.feed(html)
    return finder.problems


def test_the_checker_finds_what_the_policy_refuses():
    bad = (
        '<script>alert(1)</script><button onclick="go()">x</button><a href="javascript:go()">y</a>'
        '<script src="https://cdn.example.org/x.js"></script>'
    )
    assert len(csp_problems(bad)) == 4
    good = (
        '<script src="/static/x.js" defer></script><script type="application/json" id="s">{"a": 1}</script>'
        "<button data-print>Print</button>"
    )
    assert csp_problems(good) == []


def test_no_template_has_inline_script_or_handlers():
    """Every template in the project, including pages no test below renders."""
    root = Path(pdva.__file__).parent
    offenders = {}
    for template in root.rglob("*.html"):
        if "/pdf/" in template.as_posix():  # rendered to PDF by WeasyPrint, never served to a browser
            continue
        problems = csp_problems(template.read_text())
        if problems:
            offenders[str(template.relative_to(root))] = problems
    assert offenders == {}


@pytest.mark.django_db
def test_every_response_carries_the_policy():
    response = Client().get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "camera=()" in response["Permissions-Policy"]
    assert Client().get("/api/v1/openapi.json")["Content-Security-Policy"] == policy


def page_shape(url: str) -> str:
    """/cases/case/<uuid>/ for every case: one page of each kind is enough (the template is the same)."""
    return re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}/|/\d+/", "/<id>/", url)


@pytest.mark.django_db
def test_rendered_pages_satisfy_the_policy():
    """Crawl the pages each role reaches from its home page (GET only), one page of each kind."""
    from django.contrib.auth import get_user_model

    seed_cohort(sites=2, patients=6, years=2, seed=4)
    create_demo_users()
    skip = re.compile(r"logout|\.pdf$|\.xlsx$|/download/|/send/|/remove/|/sign/|/unlock/|/delete/")
    checked: dict[str, list[str]] = {}
    shapes: set[str] = set()
    for username in ("demo-datamanager", "demo-governance", "demo-auditor", "demo-admin"):
        client = verified_client(get_user_model().objects.get(username=username))
        queue = ["/"]
        while queue:
            url = queue.pop(0)
            if page_shape(url) in shapes and url != "/":
                continue
            shapes.add(page_shape(url))
            response = client.get(url)
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            html = response.content.decode()
            checked[f"{username} {url}"] = csp_problems(html)
            for link in re.findall(r'href="(/[^"#?]*)"', html):
                if (
                    page_shape(link) not in shapes
                    and not skip.search(link)
                    and not link.startswith("/static/")
                ):
                    queue.append(link)
    assert len(checked) > 25, sorted(checked)  # the crawl reached the application, not only a sign-in page
    for section in (
        "/cases/case/",
        "/followup/",
        "/reports/site/",
        "/reports/national/",
        "/prom/",
        "/admin/",
    ):
        assert any(f" {section}" in page for page in checked), section
    assert {page: problems for page, problems in checked.items() if problems} == {}


@pytest.mark.django_db
def test_api_docs_use_our_own_static_files():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert csp_problems(html) == []
    assert f"{settings.STATIC_URL}ninja/swagger-ui-bundle" in html


# --- HTTPS behind a proxy --------------------------------------------------------------------------------


@pytest.fixture
def behind_tls_proxy(settings):  # type: ignore[no-untyped-def]
    """The production HTTPS settings, as pdva.settings sets them from the documented environment."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    return settings


@pytest.mark.django_db
def test_forwarded_https_is_honoured(behind_tls_proxy):
    client = Client()
    response = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response.cookies["csrftoken"]["secure"]


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(behind_tls_proxy):
    response = Client().get("/accounts/login/?next=/cases/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/?next=/cases/"
    assert "Strict-Transport-Security" not in response  # only ever sent over HTTPS


# --- absolute links ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_patient_links_use_the_public_base_url_not_the_host_header(settings, alice, login, site_a):
    from pdva.proms.models import PromInvitation, PromMessage
    from pdva.proms.services import links
    from tests.factories import PatientFactory, ProcedureFactory, make_identity

    settings.PDVA_PUBLIC_BASE_URL = PUBLIC
    patient = PatientFactory(site=site_a)
    make_identity(patient)
    ProcedureFactory(patient=patient)
    client = login(alice)
    response = client.post(
        "/prom/",
        {
            "registry_id": patient.registry_id,
            "timepoint": "m6",
            "instruments": ["eq5d5l"],
            "channel": "print",
        },
        HTTP_HOST="127.0.0.1:8000",  # what gunicorn sees behind the proxy
    )
    assert response.status_code == 302
    invitation = PromInvitation.objects.get()
    assert invitation.base_url == PUBLIC
    page = client.get(response["Location"]).content.decode()
    assert f"{PUBLIC}/prom/p/" in page and "127.0.0.1" not in page

    with audit_context(label="test:staff", reason="test"):
        invitation.email = "patient@example.org"
        invitation.save(reason="test: email channel")
        links.send(invitation, PromMessage.INVITATION)
    [message] = mail.outbox
    assert f"{PUBLIC}/prom/p/" in message.body and "http://" not in message.body
