"""deploy/: the systemd units pass systemd-analyze, the compose file has the four services wired together,
the example environment is a valid production configuration, and the README documents every variable."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from pdva.core.config import load_environment

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.mark.parametrize("unit", ["pdva-web.service", "pdva-worker.service"])
def test_systemd_units_verify(tmp_path, unit):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    # The unit as installed, with the registry's paths pointed at this checkout.
    text = (DEPLOY / "systemd" / unit).read_text()
    pdva = Path(sys.executable).with_name("pdva")
    assert text.count("/srv/pdva/.venv/bin/pdva") == 1
    text = text.replace("/srv/pdva/.venv/bin/pdva", str(pdva)).replace(
        "/etc/pdva/pdva.env", str(tmp_path / "env")
    )
    (tmp_path / "env").write_text("PDVA_ENV=production\n")
    (tmp_path / unit).write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / unit)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    problems = [line for line in result.stderr.splitlines() if unit in line]
    assert result.returncode == 0 and problems == [], result.stderr


def test_web_unit_runs_pdva_serve_with_graceful_reload_and_stop():
    text = (DEPLOY / "systemd" / "pdva-web.service").read_text()
    assert "ExecStart=/srv/pdva/.venv/bin/pdva serve\n" in text
    assert "Type=notify" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text
    assert "EnvironmentFile=/etc/pdva/pdva.env" in text
    worker = (DEPLOY / "systemd" / "pdva-worker.service").read_text()
    assert "ExecStart=/srv/pdva/.venv/bin/pdva worker\n" in worker and "Restart=always" in worker


def test_compose_file_wires_database_app_worker_and_proxy():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "migrate", "app", "worker", "nginx"} <= set(services)
    assert services["app"]["command"][:2] == ["pdva", "serve"]
    assert services["worker"]["command"] == ["pdva", "worker"]
    assert services["migrate"]["command"][:2] == ["pdva", "migrate"]
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["PDVA_DATABASE_URL"].startswith("postgres://pdva:")
    assert "/health/ready" in " ".join(services["app"]["healthcheck"]["test"])
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"
    # Every file compose mounts or builds from exists.
    build = services["app"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for volume in services["nginx"]["volumes"]:
        source = volume.split(":")[0]
        if source != "./certs":
            assert (DEPLOY / source).is_file(), source
    upstream = (DEPLOY / "docker" / "pdva-upstream.conf").read_text()
    assert "server app:8000;" in upstream


def test_dockerfile_collects_static_files_without_keeping_keys():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "pdva serve --collect-only" in text and "rm -rf /tmp/build" in text
    assert re.search(r'^CMD \["pdva", "serve"', text, re.M)
    assert re.search(r"^USER pdva$", text, re.M)  # never root at run time
    for copied in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for source in copied.split():
            assert (ROOT / source).exists(), source


def example_environment() -> dict[str, str]:
    env = {}
    for line in (DEPLOY / "pdva.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def test_example_environment_is_a_valid_production_configuration(tmp_path):
    example = example_environment()
    assert example["PDVA_ENV"] == "production"
    placeholders = {name for name, value in example.items() if "CHANGE-ME" in value}
    assert placeholders == {
        "PDVA_DATABASE_URL",
        "PDVA_SECRET_KEY",
        "PDVA_AUDIT_KEY",
        "PDVA_IDENTITY_KEY",
        "PDVA_EMAIL_PASSWORD",
    }
    env = {name: value.replace("CHANGE-ME", "secret") for name, value in example.items()}
    env.update(
        PDVA_SECRET_KEY=secrets.token_urlsafe(50),
        PDVA_AUDIT_KEY="0" * 64,
        PDVA_IDENTITY_KEY=Fernet.generate_key().decode(),
        PDVA_EMAIL_PASSWORD="x",
    )
    loaded = load_environment(env, base_dir=tmp_path)
    assert loaded.production and loaded.behind_proxy and loaded.ssl_redirect
    assert loaded.mail.use_tls and loaded.mail.port == 587


def environment_variables_read() -> set[str]:
    """PDVA_* names read from the environment: quoted names in the two modules that read it."""
    names: set[str] = set()
    for module in ("pdva/core/config.py", "pdva/settings.py"):
        text = (ROOT / module).read_text()
        names |= set(re.findall(r"""["'](PDVA_[A-Z0-9_]+)["']""", text))
    return names


def test_readme_documents_every_environment_variable():
    names = environment_variables_read()
    assert {"PDVA_SECRET_KEY", "PDVA_PUBLIC_BASE_URL", "PDVA_EMAIL_USE_TLS", "PDVA_WEB_WORKERS"} <= names
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    table = table[: table.index("\n## ", 3)]
    assert sorted(name for name in names if f"`{name}`" not in table) == []
