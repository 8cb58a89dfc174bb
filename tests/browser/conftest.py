"""Playwright against Debian's chromium, on pytest-django's live server, with the real sign-in flow
(password, then a TOTP code from a confirmed device)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def new_page(browser, live_server):  # type: ignore[no-untyped-def]
    """new_page(width=1024): a page in its own context (its own session), tablet width by default."""
    contexts = []

    def make(width: int = 1024, height: int = 900):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
        context.set_default_timeout(30_000)  # the machine is shared: allow for load
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def current_code(device) -> str:  # type: ignore[no-untyped-def]
    """A code the device will accept now. django-otp accepts each time step once per device, so a second
    sign-in within the same 30 s uses the next step's code (accepted: tolerance 1) instead of waiting."""
    import time

    from django_otp.oath import TOTP

    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    now = totp.t()
    if now <= device.last_t:
        totp.time += (device.last_t + 1 - now) * device.step
        if totp.t() - now > device.tolerance:
            raise AssertionError("every code the authenticator accepts now has been used already")
    return f"{totp.token():0{device.digits}d}"


def ready(page) -> None:  # type: ignore[no-untyped-def]
    """The page has loaded and its deferred scripts (htmx, capture.js) have run: until then a click on
    Save is an ordinary form post and a branching field is not hidden yet."""
    page.wait_for_function(
        "() => document.readyState === 'complete'"
        " && (!document.querySelector('script[src*=htmx]') || !!window.htmx)"
    )


def follow(page, selector: str, url) -> None:  # type: ignore[no-untyped-def]
    """Click a link or button that navigates, and wait until the new document (at ``url``) has loaded and
    is ready. A navigation is awaited, not a URL: a form posted back to its own address (redirect to
    itself) must not count as arrived before it is sent."""
    with page.expect_navigation(url=url):  # resolves on the new document's 'load' event
        page.click(selector)
    ready(page)


def sign_in(page, user) -> None:  # type: ignore[no-untyped-def]
    """The real flow: password, then a current code of a confirmed authenticator."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="authenticator", confirmed=True
    )
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    follow(page, "main button[type=submit]", re.compile(r"/accounts/two-factor/"))
    page.fill("#id_token", current_code(device))
    follow(page, "main button[type=submit]", lambda url: "/accounts/" not in url)


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"capture-{name}.png"), full_page=True)


def axe_problems(page) -> list[dict]:  # type: ignore[no-untyped-def]
    """Serious or critical axe-core violations on the current page."""
    # Evaluated, not added as a <script> tag: the Content-Security-Policy refuses inline scripts (as it
    # should); evaluation from the test driver is not subject to it.
    page.evaluate(AXE.read_text() + "\n;undefined")
    violations = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))
            }));
        }"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]
