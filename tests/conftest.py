"""Shared test actors: alice (clinician) at site A, bob (clinician) at site B, and one user per role."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import SiteFactory, UserFactory, grant


@pytest.fixture(autouse=True)
def _fresh_cache():  # type: ignore[no-untyped-def]
    """Each test starts with an empty Django cache: a count one test cached must not answer another's."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _own_checkpoint_dir(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Each test its own audit checkpoint folder: a checkpoint one test wrote covers entries another
    test's (rolled back) database never had."""
    settings.PDVA_AUDIT_CHECKPOINT_DIR = tmp_path / "audit-checkpoints"


@pytest.fixture(autouse=True)
def _snapshots_refresh_at_once(settings):  # type: ignore[no-untyped-def]
    """Pages under test show each change's figures at once (tests of the minimum interval set their own)."""
    settings.PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS = 0


@pytest.fixture
def site_a(db):  # type: ignore[no-untyped-def]
    return SiteFactory(ods_code="AAA", name="Site A Trust")


@pytest.fixture
def site_b(db):  # type: ignore[no-untyped-def]
    return SiteFactory(ods_code="BBB", name="Site B Trust")


def _user(username: str, role: str | None, site=None):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username)
    if role:
        grant(user, role, site)
    return user


@pytest.fixture
def alice(site_a):  # type: ignore[no-untyped-def]
    return _user("alice", "site_clinician", site_a)


@pytest.fixture
def bob(site_b):  # type: ignore[no-untyped-def]
    return _user("bob", "site_clinician", site_b)


@pytest.fixture
def dave(site_a):  # type: ignore[no-untyped-def]
    """Data manager at site A."""
    return _user("dave", "site_data_manager", site_a)


@pytest.fixture
def gina(site_a):  # type: ignore[no-untyped-def]
    """Governance lead at site A."""
    return _user("gina", "site_governance_lead", site_a)


@pytest.fixture
def nora(db):  # type: ignore[no-untyped-def]
    """National auditor."""
    return _user("nora", "national_auditor")


@pytest.fixture
def rita(db):  # type: ignore[no-untyped-def]
    """Researcher (de-identified data only)."""
    return _user("rita", "researcher")


@pytest.fixture
def sam(db):  # type: ignore[no-untyped-def]
    """System administrator."""
    user = _user("sam", "system_admin")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def nobody(db):  # type: ignore[no-untyped-def]
    """Signed-in user with no site and no role."""
    return _user("nobody", None)


def verified_client(user) -> Client:  # type: ignore[no-untyped-def]
    """A test client signed in with password and a verified second factor."""
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def login():  # type: ignore[no-untyped-def]
    return verified_client


# --- Browser tests -------------------------------------------------------------------------------
# One Playwright driver and one Debian chromium for the whole session: Playwright's sync API marks an
# event loop as running on this thread while it is open, so a second driver, or any later asyncio
# user, would fail. Browser tests therefore also run last (see pytest_collection_modifyitems).

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(session, config, items):  # type: ignore[no-untyped-def]
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    import os
    from pathlib import Path

    playwright_sync = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/setup.sh (installs Debian's chromium)")
    # The driver's loop counts as "running" on this thread; Django's ORM calls from the test are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
