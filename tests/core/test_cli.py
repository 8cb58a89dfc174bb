"""The pdva command and the demo set-up."""

import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pdva.accounts.access import primary_role
from pdva.core.demo import create_demo_users
from pdva.registry.synthetic import seed_cohort


def test_pdva_command_lists_our_and_djangos_commands():
    out = subprocess.run(
        [sys.executable, "-m", "pdva", "help"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("seed", "demo", "backup", "restore", "audit", "migrate"):
        assert name in out


def test_configuration_errors_exit_with_a_message():
    result = subprocess.run(
        [sys.executable, "-m", "pdva", "check"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PDVA_ENV": "production"},
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "PDVA_DATABASE_URL" in result.stderr


@pytest.mark.django_db
def test_demo_users_one_per_role():
    seed_cohort(sites=2, patients=2, years=1, seed=2)
    rows = create_demo_users()
    from django.contrib.auth import get_user_model

    roles = {primary_role(get_user_model().objects.get(username=u)) for u, _, _ in rows}
    assert roles == {
        "site_clinician",
        "site_data_manager",
        "site_governance_lead",
        "national_auditor",
        "researcher",
        "system_admin",
    }
    assert len(create_demo_users()) == len(rows)  # idempotent


@pytest.mark.django_db
def test_demo_refuses_without_demo_mode(settings):
    settings.PDVA_DEMO_MODE = False
    with pytest.raises(CommandError, match="PDVA_DEMO_MODE"):
        call_command("demo", "--no-serve")


def test_static_assets_are_found():
    from django.contrib.staticfiles import finders

    assert finders.find("pdva/registry.css")
    assert finders.find("django_htmx/htmx-2.min.js")


def test_nul_characters_in_a_query_are_refused_clearly(client):
    api = client.get("/api/v1/patients", {"site": "\x004G"})
    assert api.status_code == 400
    assert api.json()["error"]["code"] == "invalid_request"
    page = client.get("/", {"q": "a\x00b"})
    assert page.status_code == 400 and b"NUL character" in page.content


@pytest.mark.django_db(transaction=True)
def test_demo_prepares_a_scored_registry_with_a_user_per_role(settings, capsys):
    from pdva.registry.models import PromAdministration

    settings.PDVA_DEMO_MODE = True
    call_command("demo", "--no-serve", "--patients", "6", "--sites", "2", "--years", "2")
    out = capsys.readouterr().out
    assert "demo-clinician" in out and "demo-auditor" in out
    eq5d = PromAdministration.objects.filter(instrument="eq5d5l")
    assert eq5d.exists() and not eq5d.filter(score__isnull=True).exists()
