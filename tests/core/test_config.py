"""Settings come from the environment and fail loudly when wrong."""

import pytest
from cryptography.fernet import Fernet

from pdva.core.config import ConfigError, load_environment

GOOD_KEY = Fernet.generate_key().decode()
PRODUCTION = {
    "PDVA_ENV": "production",
    "PDVA_DATABASE_URL": "postgres://pdva@db.example/pdva",
    "PDVA_SECRET_KEY": "x" * 40,
    "PDVA_AUDIT_KEY": "audit-key",
    "PDVA_IDENTITY_KEY": GOOD_KEY,
    "PDVA_ALLOWED_HOSTS": "registry.example.nhs.uk",
}


def test_production_with_everything_given(tmp_path):
    env = load_environment(PRODUCTION, base_dir=tmp_path)
    assert env.production and not env.debug
    assert env.database["ENGINE"] == "django.db.backends.postgresql"
    assert not (tmp_path / "var").exists()  # nothing generated


@pytest.mark.parametrize(
    "missing",
    ["PDVA_DATABASE_URL", "PDVA_SECRET_KEY", "PDVA_AUDIT_KEY", "PDVA_IDENTITY_KEY", "PDVA_ALLOWED_HOSTS"],
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


def test_short_production_secret_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least 32"):
        load_environment({**PRODUCTION, "PDVA_SECRET_KEY": "short"}, base_dir=tmp_path)
