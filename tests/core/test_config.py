"""Settings come from the environment and fail loudly when wrong."""

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from pdva.core.config import ConfigError, load_environment

GOOD_KEY = Fernet.generate_key().decode()
# The production configuration docs/deploy.md documents (behind nginx, which terminates TLS).
PRODUCTION = {
    "PDVA_ENV": "production",
    "PDVA_DATABASE_URL": "postgres://pdva@db.example/pdva",
    "PDVA_SECRET_KEY": "s3cret-" * 8,
    "PDVA_AUDIT_KEY": "audit-key",
    "PDVA_IDENTITY_KEY": GOOD_KEY,
    "PDVA_ALLOWED_HOSTS": "registry.example.nhs.uk",
    "PDVA_PUBLIC_BASE_URL": "https://registry.example.nhs.uk",
    "PDVA_BEHIND_PROXY": "true",
    "PDVA_EMAIL_HOST": "send.nhs.net",
    "PDVA_EMAIL_USE_TLS": "true",
    "PDVA_EMAIL_USER": "registry@nhs.net",
    "PDVA_EMAIL_PASSWORD": "mail-password",
    "PDVA_EMAIL_FROM": "registry@nhs.net",
}


def test_production_with_everything_given(tmp_path):
    env = load_environment(PRODUCTION, base_dir=tmp_path)
    assert env.production and not env.debug
    assert env.database["ENGINE"] == "django.db.backends.postgresql"
    assert not (tmp_path / "var").exists()  # nothing generated


@pytest.mark.parametrize(
    "missing",
    [
        "PDVA_DATABASE_URL",
        "PDVA_SECRET_KEY",
        "PDVA_AUDIT_KEY",
        "PDVA_IDENTITY_KEY",
        "PDVA_ALLOWED_HOSTS",
        "PDVA_PUBLIC_BASE_URL",
        "PDVA_BEHIND_PROXY",  # the HTTPS redirect would loop without it
        "PDVA_EMAIL_FROM",
    ],
)
def test_production_refuses_to_start_without_a_setting(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_environment(env, base_dir=tmp_path)


def test_development_generates_keys_once_and_keeps_them(tmp_path):
    first = load_environment({"PDVA_ENV": "development"}, base_dir=tmp_path)
    second = load_environment({"PDVA_ENV": "development"}, base_dir=tmp_path)
    assert first.secret_key == second.secret_key and first.identity_key == second.identity_key
    assert first.database["ENGINE"] == "django.db.backends.sqlite3"
    assert (tmp_path / "var" / "identity_key.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PDVA_ENV": "staging"}, "PDVA_ENV must be one of"),
        ({"PDVA_DATABASE_URL": "mysql://x/y"}, "must start with sqlite"),
        ({"PDVA_IDENTITY_KEY": "not-a-key"}, "Fernet key"),
        ({"PDVA_DEBUG": "maybe"}, "PDVA_DEBUG must be one of"),
        (
            {
                "PDVA_ENV": "production",
                "PDVA_DEMO_MODE": "true",
                **{k: v for k, v in PRODUCTION.items() if k != "PDVA_ENV"},
            },
            "PDVA_DEMO_MODE cannot",
        ),
    ],
)
def test_bad_values_are_named(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_environment(env, base_dir=tmp_path)


@pytest.mark.parametrize("key", ["short", "x" * 60, "django-insecure-" + "abcdefgh" * 6])
def test_weak_production_secret_refused(tmp_path, key):
    with pytest.raises(ConfigError, match="PDVA_SECRET_KEY must be at least 50 characters"):
        load_environment({**PRODUCTION, "PDVA_SECRET_KEY": key}, base_dir=tmp_path)


# --- HTTPS behind a proxy, public address ---------------------------------------------------------


def test_production_is_https_only_by_default(tmp_path):
    env = load_environment(PRODUCTION, base_dir=tmp_path)
    assert env.behind_proxy and env.ssl_redirect
    assert env.hsts_seconds == 31_536_000 and env.hsts_include_subdomains and env.hsts_preload
    assert env.public_base_url == "https://registry.example.nhs.uk"


def test_development_has_no_https_settings(tmp_path):
    env = load_environment({"PDVA_ENV": "development"}, base_dir=tmp_path)
    assert not env.ssl_redirect and env.hsts_seconds == 0 and not env.behind_proxy
    assert env.public_base_url == "http://127.0.0.1:8000"


def test_https_settings_can_be_tuned(tmp_path):
    env = load_environment(
        {
            **PRODUCTION,
            "PDVA_HSTS_SECONDS": "3600",
            "PDVA_HSTS_PRELOAD": "false",
            "PDVA_SSL_REDIRECT": "false",
        },
        base_dir=tmp_path,
    )
    assert env.hsts_seconds == 3600 and not env.hsts_preload and not env.ssl_redirect


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("registry.example.nhs.uk", "must look like https://"),
        ("ftp://registry.example.nhs.uk", "must look like https://"),
        ("https://registry.example.nhs.uk/pdva", "scheme and host only"),
        ("https://registry.example.nhs.uk/?next=x", "scheme and host only"),
        ("http://registry.example.nhs.uk", "must start with https:// in production"),
        ("https://elsewhere.example.org", "not in PDVA_ALLOWED_HOSTS"),
    ],
)
def test_bad_public_base_url_is_named(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message):
        load_environment({**PRODUCTION, "PDVA_PUBLIC_BASE_URL": url}, base_dir=tmp_path)


def test_public_base_url_loses_its_trailing_slash(tmp_path):
    env = load_environment(
        {**PRODUCTION, "PDVA_PUBLIC_BASE_URL": "https://registry.example.nhs.uk/"}, base_dir=tmp_path
    )
    assert env.public_base_url == "https://registry.example.nhs.uk"


def test_debug_refused_in_production(tmp_path):
    with pytest.raises(ConfigError, match="PDVA_DEBUG cannot be enabled"):
        load_environment({**PRODUCTION, "PDVA_DEBUG": "true"}, base_dir=tmp_path)


# --- mail ------------------------------------------------------------------------------------------


def test_mail_settings_for_an_authenticated_relay(tmp_path):
    env = load_environment(PRODUCTION, base_dir=tmp_path)
    assert env.email_backend == "django.core.mail.backends.smtp.EmailBackend"
    assert env.email_host == "send.nhs.net"
    assert (env.mail.port, env.mail.use_tls, env.mail.use_ssl) == (587, True, False)
    assert (env.mail.user, env.mail.password) == ("registry@nhs.net", "mail-password")


def test_implicit_tls_defaults_to_port_465(tmp_path):
    env = load_environment(
        {**PRODUCTION, "PDVA_EMAIL_USE_TLS": "false", "PDVA_EMAIL_USE_SSL": "true"}, base_dir=tmp_path
    )
    assert (env.mail.port, env.mail.use_ssl) == (465, True)


def test_explicit_mail_port(tmp_path):
    env = load_environment({**PRODUCTION, "PDVA_EMAIL_PORT": "2525"}, base_dir=tmp_path)
    assert env.mail.port == 2525


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PDVA_EMAIL_USE_SSL": "true"}, "cannot both be true"),
        ({"PDVA_EMAIL_PORT": "465"}, "PDVA_EMAIL_PORT=465 is implicit TLS"),
        (
            {"PDVA_EMAIL_USE_TLS": "false", "PDVA_EMAIL_USE_SSL": "true", "PDVA_EMAIL_PORT": "587"},
            "expects STARTTLS",
        ),
        ({"PDVA_EMAIL_PORT": "70000"}, "PDVA_EMAIL_PORT must be a whole number between 1 and 65535"),
        ({"PDVA_EMAIL_PORT": "smtp"}, "PDVA_EMAIL_PORT must be a whole number"),
        ({"PDVA_EMAIL_PASSWORD": ""}, "PDVA_EMAIL_PASSWORD is required"),
        ({"PDVA_EMAIL_USER": ""}, "PDVA_EMAIL_USER is required"),
        ({"PDVA_EMAIL_USE_TLS": "false"}, "would be sent in clear"),
        (
            {"PDVA_EMAIL_HOST": "", "PDVA_EMAIL_USER": "", "PDVA_EMAIL_PASSWORD": ""},
            "PDVA_EMAIL_USE_TLS is set but PDVA_EMAIL_HOST is empty",
        ),
        ({"PDVA_EMAIL_FROM": "registry"}, "PDVA_EMAIL_FROM must be an email address"),
        ({"PDVA_EMAIL_TIMEOUT": "0"}, "PDVA_EMAIL_TIMEOUT must be a whole number at least 1"),
    ],
)
def test_mail_combinations_that_cannot_work_are_refused(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_environment({**PRODUCTION, **change}, base_dir=tmp_path)


def test_smtp_backend_without_a_host_is_refused(tmp_path):
    env = {"PDVA_ENV": "development", "PDVA_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
    with pytest.raises(ConfigError, match="PDVA_EMAIL_HOST is empty"):
        load_environment(env, base_dir=tmp_path)


# --- pdva serve defaults ---------------------------------------------------------------------------


def test_web_server_settings(tmp_path):
    env = load_environment(
        {**PRODUCTION, "PDVA_WEB_BIND": "0.0.0.0:9000", "PDVA_WEB_WORKERS": "3", "PDVA_WEB_THREADS": "4"},
        base_dir=tmp_path,
    )
    assert (env.web.bind, env.web.workers, env.web.threads) == ("0.0.0.0:9000", 3, 4)


def test_database_connections_are_kept_between_requests_unless_told(tmp_path):
    kept = load_environment(PRODUCTION, base_dir=tmp_path).database
    assert kept["CONN_MAX_AGE"] == 60 and kept["CONN_HEALTH_CHECKS"] is True
    fresh = load_environment({**PRODUCTION, "PDVA_DB_CONN_MAX_AGE": "0"}, base_dir=tmp_path).database
    assert fresh["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"PDVA_DB_CONN_MAX_AGE": "forever"},
            "PDVA_DB_CONN_MAX_AGE must be a whole number between 0 and 3600",
        ),
        ({"PDVA_WEB_BIND": "8000"}, "PDVA_WEB_BIND must be HOST:PORT"),
        ({"PDVA_WEB_BIND": "127.0.0.1:99999"}, "PDVA_WEB_BIND must be HOST:PORT"),
        ({"PDVA_WEB_WORKERS": "0"}, "PDVA_WEB_WORKERS must be a whole number between 1 and 64"),
        ({"PDVA_HSTS_SECONDS": "-1"}, "PDVA_HSTS_SECONDS must be a whole number"),
    ],
)
def test_bad_server_settings_are_named(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_environment({**PRODUCTION, **change}, base_dir=tmp_path)


# --- Django's deployment checklist -------------------------------------------------------------------


def test_deploy_checks_are_clean_under_the_documented_production_configuration(tmp_path):
    """`pdva check --deploy` in a fresh process with the production environment: no warning at all."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **PRODUCTION,
        "PDVA_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pdva", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr.upper()


def test_deploy_checks_do_warn_when_https_is_switched_off(tmp_path):
    """The check above can fail: the same run with the HTTPS settings off reports Django's warnings."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **PRODUCTION,
        "PDVA_SSL_REDIRECT": "false",
        "PDVA_HSTS_SECONDS": "0",
        "PDVA_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pdva", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr
