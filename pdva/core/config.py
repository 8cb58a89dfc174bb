"""Configuration from environment variables, checked up front.

Outside production, missing keys are generated once and kept under ``./var/`` so a developer's
database stays readable across restarts. In production every key must be given.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from cryptography.fernet import Fernet


class ConfigError(RuntimeError):
    """A setting is missing or malformed. The message names the variable and what is wrong."""


TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
ENVIRONMENTS = {"development", "test", "production"}


@dataclass(frozen=True)
class MailSettings:
    """SMTP connection details beyond the host (an authenticated relay such as NHSmail needs them all)."""

    port: int = 25
    use_tls: bool = False  # STARTTLS on a plain connection (usually port 587)
    use_ssl: bool = False  # implicit TLS from the first byte (usually port 465)
    user: str = ""
    password: str = ""
    timeout: int = 30


@dataclass(frozen=True)
class WebServer:
    """Defaults for ``pdva serve`` (gunicorn); its --bind/--workers/--threads options override them."""

    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 1
    timeout: int = 60


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
    # Serving behind a TLS-terminating proxy, and every absolute link (see https_settings()).
    static_root: Path | None = None  # collected static files; None = var_dir / "static"
    public_base_url: str = "http://127.0.0.1:8000"
    behind_proxy: bool = False
    ssl_redirect: bool = False
    hsts_seconds: int = 0
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    mail: MailSettings = field(default_factory=lambda: MailSettings())
    web: WebServer = field(default_factory=lambda: WebServer())

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


def parse_database(url: str, *, conn_max_age: int = 60) -> dict[str, Any]:
    """Django's DATABASES entry. ``conn_max_age``: seconds a connection is kept for the next request of the
    same worker thread (0: a new connection for every request, which on PostgreSQL costs a backend process
    start each time; with health checks a connection the server closed is replaced, not an error)."""
    if not url.startswith(("sqlite:", "postgres://", "postgresql://")):
        raise ConfigError(
            f"PDVA_DATABASE_URL must start with sqlite:/// or postgres://, got {url.split(':')[0]!r}"
        )
    try:
        config = dict(dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True))
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


def parse_int(
    env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name} must be a whole number {bound}, got {raw!r}")
    return int(raw)


def parse_public_base_url(raw: str, *, production: bool, hosts: list[str]) -> str:
    """The scheme and host every absolute link is built from (patient questionnaire links, emails).

    Never the request's Host header: behind a TLS proxy that would say http://, and a forged Host would
    put an attacker's address into a patient's email.
    """
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"PDVA_PUBLIC_BASE_URL must look like https://registry.example.nhs.uk, got {raw!r}")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            "PDVA_PUBLIC_BASE_URL must be a scheme and host only (no path, query or user), "
            f"e.g. https://registry.example.nhs.uk, got {raw!r}"
        )
    if production:
        if parts.scheme != "https":
            raise ConfigError(f"PDVA_PUBLIC_BASE_URL must start with https:// in production, got {raw!r}")
        if not _host_allowed(parts.hostname, hosts):
            raise ConfigError(
                f"PDVA_PUBLIC_BASE_URL's host {parts.hostname!r} is not in PDVA_ALLOWED_HOSTS ({','.join(hosts)})"
            )
    return url


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.lower()
        if (
            pattern == "*"
            or pattern == host
            or (pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:]))
        ):
            return True
    return False


def check_secret_key(key: str) -> str:
    # The same bar as Django's deploy check (security.W009), refused up front rather than warned about.
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        raise ConfigError(
            "PDVA_SECRET_KEY must be at least 50 characters with at least 5 different ones in production; "
            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return key


SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
IMPLICIT_TLS_PORT = 465
SUBMISSION_PORT = 587


def parse_mail(env: Mapping[str, str], *, host: str, backend: str) -> MailSettings:
    """SMTP port, STARTTLS/SSL and login; combinations that cannot work are refused, naming the variables."""
    use_tls = parse_bool(env, "PDVA_EMAIL_USE_TLS", False)
    use_ssl = parse_bool(env, "PDVA_EMAIL_USE_SSL", False)
    if use_tls and use_ssl:
        raise ConfigError(
            "PDVA_EMAIL_USE_TLS (STARTTLS) and PDVA_EMAIL_USE_SSL (implicit TLS) cannot both be true: "
            "use TLS for port 587, SSL for port 465"
        )
    default_port = IMPLICIT_TLS_PORT if use_ssl else SUBMISSION_PORT if use_tls else 25
    port = parse_int(env, "PDVA_EMAIL_PORT", default_port, minimum=1, maximum=65535)
    if use_tls and port == IMPLICIT_TLS_PORT:
        raise ConfigError(
            "PDVA_EMAIL_PORT=465 is implicit TLS: set PDVA_EMAIL_USE_SSL=true instead of PDVA_EMAIL_USE_TLS"
        )
    if use_ssl and port == SUBMISSION_PORT:
        raise ConfigError(
            "PDVA_EMAIL_PORT=587 expects STARTTLS: set PDVA_EMAIL_USE_TLS=true instead of PDVA_EMAIL_USE_SSL"
        )
    user = env.get("PDVA_EMAIL_USER", "").strip()
    password = env.get("PDVA_EMAIL_PASSWORD", "")
    if bool(user) != bool(password):
        missing = "PDVA_EMAIL_PASSWORD" if user else "PDVA_EMAIL_USER"
        raise ConfigError(
            f"{missing} is required when the other of PDVA_EMAIL_USER/PDVA_EMAIL_PASSWORD is set"
        )
    if password and not (use_tls or use_ssl):
        raise ConfigError(
            "PDVA_EMAIL_PASSWORD would be sent in clear: set PDVA_EMAIL_USE_TLS=true (STARTTLS) "
            "or PDVA_EMAIL_USE_SSL=true"
        )
    if not host:
        given = [
            name
            for name in ("PDVA_EMAIL_PORT", "PDVA_EMAIL_USE_TLS", "PDVA_EMAIL_USE_SSL", "PDVA_EMAIL_USER")
            if env.get(name, "").strip()
        ]
        if given or backend == SMTP_BACKEND:
            named = ", ".join(given) or "PDVA_EMAIL_BACKEND (SMTP)"
            raise ConfigError(f"{named} is set but PDVA_EMAIL_HOST is empty: name the mail server")
    timeout = parse_int(env, "PDVA_EMAIL_TIMEOUT", 30, minimum=1)
    return MailSettings(
        port=port, use_tls=use_tls, use_ssl=use_ssl, user=user, password=password, timeout=timeout
    )


BIND = re.compile(r"^(?:unix:/\S+|(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5})$")


def parse_bind(raw: str, name: str = "PDVA_WEB_BIND") -> str:
    value = raw.strip()
    if not BIND.match(value) or (
        not value.startswith("unix:") and not 0 < int(value.rsplit(":", 1)[1]) < 65536
    ):
        raise ConfigError(
            f"{name} must be HOST:PORT (e.g. 127.0.0.1:8000) or unix:/path/to.sock, got {raw!r}"
        )
    return value


def parse_web(env: Mapping[str, str]) -> WebServer:
    cores = os.cpu_count() or 1
    return WebServer(
        bind=parse_bind(env.get("PDVA_WEB_BIND", "") or "127.0.0.1:8000"),
        # gunicorn's rule of thumb is 2 x cores + 1; capped so a small host is not swapped out by a
        # worker each holding the statistics libraries.
        workers=parse_int(env, "PDVA_WEB_WORKERS", min(2 * cores + 1, 8), minimum=1, maximum=64),
        threads=parse_int(env, "PDVA_WEB_THREADS", 1, minimum=1, maximum=64),
        timeout=parse_int(env, "PDVA_WEB_TIMEOUT", 60, minimum=1),
    )


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
    if production:
        check_secret_key(secret_key)
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
    mail = parse_mail(env, host=email_host, backend=email_backend)
    email_from = env.get("PDVA_EMAIL_FROM", "").strip()
    if email_from and "@" not in email_from:
        raise ConfigError(f"PDVA_EMAIL_FROM must be an email address, got {email_from!r}")
    if production and email_host and not email_from:
        raise ConfigError("PDVA_EMAIL_FROM is required when PDVA_EMAIL_HOST is set in production")

    debug = parse_bool(env, "PDVA_DEBUG", name == "development")
    if debug and production:
        raise ConfigError("PDVA_DEBUG cannot be enabled when PDVA_ENV=production (it shows tracebacks)")
    public_default = {"production": "", "test": "http://testserver", "development": "http://127.0.0.1:8000"}[
        name
    ]
    public_raw = env.get("PDVA_PUBLIC_BASE_URL", "").strip() or public_default
    if not public_raw:
        raise ConfigError(
            "PDVA_PUBLIC_BASE_URL is required when PDVA_ENV=production "
            "(the https:// address patients and staff reach the registry at)"
        )
    public_base_url = parse_public_base_url(public_raw, production=production, hosts=hosts)

    behind_proxy = parse_bool(env, "PDVA_BEHIND_PROXY", False)
    ssl_redirect = parse_bool(env, "PDVA_SSL_REDIRECT", production)
    if ssl_redirect and not behind_proxy:
        # pdva serve speaks plain HTTP: without the proxy's word every request looks insecure and is
        # redirected again, for ever.
        raise ConfigError(
            "PDVA_SSL_REDIRECT=true needs PDVA_BEHIND_PROXY=true (pdva serve runs behind a "
            "TLS-terminating proxy that sets X-Forwarded-Proto); or set PDVA_SSL_REDIRECT=false"
        )
    hsts_seconds = parse_int(env, "PDVA_HSTS_SECONDS", 31_536_000 if production else 0)

    return Environment(
        name=name,
        var_dir=var_dir,
        database=parse_database(
            database_url, conn_max_age=parse_int(env, "PDVA_DB_CONN_MAX_AGE", 60, minimum=0, maximum=3600)
        ),
        secret_key=secret_key,
        audit_key=audit_key,
        identity_key=identity_key,
        debug=debug,
        demo_mode=demo_mode,
        allowed_hosts=hosts,
        csrf_trusted_origins=origins,
        email_backend=email_backend,
        email_host=email_host,
        email_from=email_from or "pdva-registry@localhost",
        axes_enabled=parse_bool(env, "PDVA_AXES_ENABLED", True),
        static_root=Path(env["PDVA_STATIC_ROOT"]).resolve()
        if env.get("PDVA_STATIC_ROOT", "").strip()
        else None,
        public_base_url=public_base_url,
        behind_proxy=behind_proxy,
        ssl_redirect=ssl_redirect,
        hsts_seconds=hsts_seconds,
        hsts_include_subdomains=parse_bool(env, "PDVA_HSTS_INCLUDE_SUBDOMAINS", hsts_seconds > 0),
        hsts_preload=parse_bool(env, "PDVA_HSTS_PRELOAD", hsts_seconds > 0),
        mail=mail,
        web=parse_web(env),
    )
