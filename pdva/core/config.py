"""Configuration from environment variables, checked up front.

Outside production, missing keys are generated once and kept under ``./var/`` so a developer's
database stays readable across restarts. In production every key must be given.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dj_database_url
from cryptography.fernet import Fernet


class ConfigError(RuntimeError):
    """A setting is missing or malformed. The message names the variable and what is wrong."""


TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
ENVIRONMENTS = {"development", "test", "production"}


@dataclass(frozen=True)
class Environment:
    name: str
    var_dir: Path
    database: dict[str, Any]
    secret_key: str
    audit_key: str
    identity_key: str
    debug: bool
    demo_mode: bool
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    email_backend: str
    email_host: str
    email_from: str
    axes_enabled: bool

    @property
    def production(self) -> bool:
        return self.name == "production"

    @property
    def testing(self) -> bool:
        return self.name == "test"


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"{name} must be one of true/false/1/0/yes/no, got {raw!r}")


def parse_database(url: str) -> dict[str, Any]:
    if not url.startswith(("sqlite:", "postgres://", "postgresql://")):
        raise ConfigError(
            f"PDVA_DATABASE_URL must start with sqlite:/// or postgres://, got {url.split(':')[0]!r}"
        )
    try:
        config = dict(dj_database_url.parse(url, conn_max_age=0))
    except Exception as exc:  # dj_database_url raises several types for bad URLs
        raise ConfigError(f"PDVA_DATABASE_URL could not be parsed: {exc}") from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if not config.get("NAME"):
            raise ConfigError(
                "PDVA_DATABASE_URL for SQLite needs a file path, e.g. sqlite:///var/pdva.sqlite3"
            )
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE transactions serialise writers, which keeps the audit hash chain linear.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL;",
        }
        config["TEST"] = {"NAME": str(Path(config["NAME"]).with_suffix(".test.sqlite3"))}
    else:
        config["ATOMIC_REQUESTS"] = False
    return config


def _persisted_key(var_dir: Path, filename: str, make: Any) -> str:
    """Return a development key kept in var/, creating it on first use."""
    path = var_dir / filename
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = make()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _key(env: Mapping[str, str], name: str, *, production: bool, var_dir: Path, make: Any) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if production:
        raise ConfigError(f"{name} is required when PDVA_ENV=production")
    return _persisted_key(var_dir, name.lower().removeprefix("pdva_") + ".key", make)


def check_fernet_key(key: str) -> str:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            "PDVA_IDENTITY_KEY must be a Fernet key (32 url-safe base64-encoded bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
        ) from exc
    return key


def load_environment(env: Mapping[str, str], *, base_dir: Path) -> Environment:
    name = env.get("PDVA_ENV", "").strip().lower()
    if not name:
        name = "test" if "pytest" in sys.modules else "development"
    if name not in ENVIRONMENTS:
        raise ConfigError(f"PDVA_ENV must be one of {sorted(ENVIRONMENTS)}, got {name!r}")
    production = name == "production"
    var_dir = Path(env.get("PDVA_VAR_DIR", str(base_dir / "var"))).resolve()

    database_url = env.get("PDVA_DATABASE_URL", "").strip()
    if not database_url:
        if production:
            raise ConfigError("PDVA_DATABASE_URL is required when PDVA_ENV=production")
        database_url = f"sqlite:///{var_dir / 'pdva.sqlite3'}"

    secret_key = _key(
        env, "PDVA_SECRET_KEY", production=production, var_dir=var_dir, make=lambda: secrets.token_urlsafe(50)
    )
    if production and len(secret_key) < 32:
        raise ConfigError("PDVA_SECRET_KEY must be at least 32 characters in production")
    audit_key = _key(
        env, "PDVA_AUDIT_KEY", production=production, var_dir=var_dir, make=lambda: secrets.token_hex(32)
    )
    identity_key = check_fernet_key(
        _key(
            env,
            "PDVA_IDENTITY_KEY",
            production=production,
            var_dir=var_dir,
            make=lambda: Fernet.generate_key().decode(),
        )
    )

    demo_mode = parse_bool(env, "PDVA_DEMO_MODE", False)
    if demo_mode and production:
        raise ConfigError("PDVA_DEMO_MODE cannot be enabled when PDVA_ENV=production")
    hosts = [h.strip() for h in env.get("PDVA_ALLOWED_HOSTS", "").split(",") if h.strip()]
    if production and not hosts:
        raise ConfigError(
            "PDVA_ALLOWED_HOSTS is required when PDVA_ENV=production (comma-separated host names)"
        )
    if not hosts:
        hosts = ["127.0.0.1", "localhost", "testserver"]
    origins = [o.strip() for o in env.get("PDVA_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

    email_host = env.get("PDVA_EMAIL_HOST", "").strip()
    email_backend = env.get("PDVA_EMAIL_BACKEND", "").strip()
    if not email_backend:
        if name == "test":
            email_backend = "django.core.mail.backends.locmem.EmailBackend"
        elif email_host:
            email_backend = "django.core.mail.backends.smtp.EmailBackend"
        else:
            # No mail server configured: senders must check `email_configured()` and record the failure.
            email_backend = "pdva.core.mail.NotConfiguredBackend"

    return Environment(
        name=name,
        var_dir=var_dir,
        database=parse_database(database_url),
        secret_key=secret_key,
        audit_key=audit_key,
        identity_key=identity_key,
        debug=parse_bool(env, "PDVA_DEBUG", name == "development"),
        demo_mode=demo_mode,
        allowed_hosts=hosts,
        csrf_trusted_origins=origins,
        email_backend=email_backend,
        email_host=email_host,
        email_from=env.get("PDVA_EMAIL_FROM", "pdva-registry@localhost"),
        axes_enabled=parse_bool(env, "PDVA_AXES_ENABLED", True),
    )
