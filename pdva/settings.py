"""Django settings, read from the environment.

Every setting that matters comes from a ``PDVA_*`` variable. Wrong values fail loudly at start-up:
a registry that silently falls back to a default database or key is worse than one that will not start.
"""

from __future__ import annotations

import os
from pathlib import Path

from pdva.core.config import ConfigError, Environment, load_environment, parse_bool, parse_int

BASE_DIR = Path(__file__).resolve().parent
ENV: Environment = load_environment(os.environ, base_dir=Path.cwd())

DEBUG = ENV.debug
SECRET_KEY = ENV.secret_key
PDVA_AUDIT_KEY = ENV.audit_key
PDVA_IDENTITY_KEY = ENV.identity_key
PDVA_DEMO_MODE = ENV.demo_mode
PDVA_PRODUCTION = ENV.production
ALLOWED_HOSTS = ENV.allowed_hosts
CSRF_TRUSTED_ORIGINS = ENV.csrf_trusted_origins

if not SECRET_KEY:  # pragma: no cover - load_environment already guarantees this
    raise ConfigError("PDVA_SECRET_KEY is empty")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves the API docs' Swagger UI from our own static files (the CSP refuses a CDN)
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "pdva.core",
    "pdva.accounts",
    "pdva.audit",
    "pdva.registry",
    "pdva.capture",
    "pdva.followup",
    "pdva.proms",
    "pdva.reports",
    "pdva.exports",
    "pdva.api",
    "pdva.web",
]

MIDDLEWARE = [
    # --- serving (see "Serving in production" below): outermost, so every response is logged and
    # health probes are answered before host checks and the HTTPS redirect ---
    "pdva.core.middleware.RequestLogMiddleware",
    "pdva.core.health.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "pdva.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # --- end serving ---
    "pdva.core.middleware.RejectNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "pdva.accounts.middleware.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "pdva.accounts.middleware.TwoFactorRequiredMiddleware",
    "pdva.audit.middleware.AuditActorMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "pdva.urls"
WSGI_APPLICATION = "pdva.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pdva.accounts.context_processors.registry_user",
                "pdva.web.nav.nav_items",
            ],
        },
    }
]

DATABASES = {"default": ENV.database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if ENV.testing:
    # Tests create many users: a fast hasher keeps the suite quick without weakening production.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True  # stored in UTC, shown in UK time

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600  # also the absolute limit after sign-in (pdva.accounts.middleware)
X_FRAME_OPTIONS = "DENY"

# django-axes: lock an account and address after five failures for an hour.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = ENV.axes_enabled

OTP_TOTP_ISSUER = "pDVA Registry"

# Risk model for risk-adjusted CUSUMs: "module:function", called as fn(rows, *, cutoff) on the derived outcome
# table, returning predicted 6-month amputation-or-death risks (or an object with .risk and .summary).
# Built in: "pdva.outcomes.risk:registry_logistic" (registry-wide logistic model, see the methods page).
# Empty = Bernoulli CUSUM against the PROMISE II acceptable rate.
PDVA_RISK_MODEL = os.environ.get("PDVA_RISK_MODEL", "").strip()
if PDVA_RISK_MODEL and ":" not in PDVA_RISK_MODEL:
    raise ConfigError(f"PDVA_RISK_MODEL must look like 'package.module:function', got {PDVA_RISK_MODEL!r}")


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


PDVA_API_RATE_LIMIT = _positive_int("PDVA_API_RATE_LIMIT", 600)  # requests per token per minute
PDVA_PROM_LINK_DAYS = _positive_int("PDVA_PROM_LINK_DAYS", 28)  # a patient's questionnaire link expires after
PDVA_PROM_REMINDER_DAYS = _positive_int("PDVA_PROM_REMINDER_DAYS", 7)  # days between reminders
PDVA_PROM_MAX_REMINDERS = _positive_int("PDVA_PROM_MAX_REMINDERS", 2)  # then reminders stop
PDVA_IDLE_TIMEOUT_MINUTES = _positive_int("PDVA_IDLE_TIMEOUT_MINUTES", 30)  # signed out after this idle
PDVA_ACTIVATION_HOURS = _positive_int("PDVA_ACTIVATION_HOURS", 72)  # a two-factor activation code expires
# A self-granted role, or a clinical role granted by an administrator, waits for a governance lead's approval.
PDVA_ROLE_GRANT_APPROVAL = parse_bool(os.environ, "PDVA_ROLE_GRANT_APPROVAL", False)
PDVA_PROM_EMAIL_TEMPLATES = "proms/email"
PDVA_FOLLOWUP_DIGEST_TEMPLATE = "followup/email/digest.txt"

# ==== Serving in production (pdva serve, whitenoise, proxy/TLS, CSP, mail, logs) =====================
# Every value comes from pdva.core.config (documented in the README's Configuration table).

# Static files: collected into var/static (pdva serve does it when they changed) and served by whitenoise
# with hashed, compressed names. Tests and DEBUG read the source folders directly.
STATIC_URL = "/static/"
STATIC_ROOT = ENV.static_root or ENV.var_dir / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if ENV.testing
        else "pdva.core.static_storage.RegistryStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or ENV.testing
WHITENOISE_AUTOREFRESH = DEBUG or ENV.testing

# Behind a TLS-terminating proxy (nginx): trust its X-Forwarded-Proto and X-Forwarded-For only when told
# to, because a client reaching gunicorn directly could send them itself. The client address matters to
# django-axes: without it every sign-in would seem to come from the proxy.
if ENV.behind_proxy:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    AXES_CLIENT_IP_CALLABLE = "pdva.core.middleware.client_ip_behind_proxy"
SECURE_SSL_REDIRECT = ENV.ssl_redirect
SECURE_HSTS_SECONDS = ENV.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = ENV.hsts_include_subdomains
SECURE_HSTS_PRELOAD = ENV.hsts_preload
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = ENV.production
CSRF_COOKIE_SECURE = ENV.production
# Absolute links (patient questionnaire links, emails) are built from this, never from the Host header.
PDVA_PUBLIC_BASE_URL = ENV.public_base_url
PDVA_WEB = ENV.web

# Content-Security-Policy (pdva.core.middleware): scripts only from our own static files, so no inline
# <script> or on...= handler anywhere. Styles allow 'unsafe-inline' because the report charts are inline
# matplotlib SVG, which carries style attributes; styles cannot run code.
PDVA_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",  # the two-factor set-up QR code is a data: URL
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

EMAIL_BACKEND = ENV.email_backend
EMAIL_HOST = ENV.email_host
EMAIL_PORT = ENV.mail.port
EMAIL_USE_TLS = ENV.mail.use_tls
EMAIL_USE_SSL = ENV.mail.use_ssl
EMAIL_HOST_USER = ENV.mail.user
EMAIL_HOST_PASSWORD = ENV.mail.password
EMAIL_TIMEOUT = ENV.mail.timeout
DEFAULT_FROM_EMAIL = ENV.email_from
SERVER_EMAIL = ENV.email_from

# One JSON line per request on stderr (pdva.request), with the request id; never patient identifiers.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "pdva.core.logging_json.RequestIdFilter"}},
    "formatters": {"json": {"()": "pdva.core.logging_json.JsonLineFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "loggers": {
        "pdva.request": {"level": "INFO"},
        # Django's own 4xx lines repeat ours (with less care about what a path holds); 5xx keep the traceback.
        "django.request": {"level": "ERROR"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
}
# ==== end serving =====================================================================================

# ==== Background jobs (pdva.jobs; procrastinate on PostgreSQL, in-process on SQLite; see docs/jobs.md) ====
INSTALLED_APPS += ["procrastinate.contrib.django", "pdva.jobs"]
DATABASE_ROUTERS = ["pdva.jobs.router.QueueSchemaRouter"]  # procrastinate's schema only on PostgreSQL
PROCRASTINATE_ON_APP_READY = "pdva.jobs.tasks.on_app_ready"  # adds our tasks (pdva:run_job, ...)
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = ""  # no other tasks modules
_JOBS_ON_POSTGRESQL = DATABASES["default"]["ENGINE"].endswith("postgresql")
# queue: procrastinate (PostgreSQL) · thread: this process, after commit · worker: `pdva worker` only ·
# inline: before enqueue returns (the tests' default, so pages behave as they did synchronously)
PDVA_JOBS_RUN = os.environ.get("PDVA_JOBS_RUN", "").strip() or (
    "inline" if ENV.testing else "queue" if _JOBS_ON_POSTGRESQL else "thread"
)
if PDVA_JOBS_RUN not in ("queue", "thread", "worker", "inline"):
    raise ConfigError(f"PDVA_JOBS_RUN must be queue, thread, worker or inline, got {PDVA_JOBS_RUN!r}")
if PDVA_JOBS_RUN == "queue" and not _JOBS_ON_POSTGRESQL:
    raise ConfigError("PDVA_JOBS_RUN=queue needs PostgreSQL (procrastinate); on SQLite use thread or worker")
# Results can hold patient data: owner-only files, removed after PDVA_JOBS_RESULT_HOURS.
PDVA_JOBS_DIR = Path(
    os.environ.get("PDVA_JOBS_DIR", "").strip()
    or (
        Path(os.environ.get("TMPDIR", "/tmp")) / f"pdva-test-jobs-{os.getpid()}"
        if ENV.testing
        else ENV.var_dir / "jobs"
    )
)
PDVA_JOBS_RESULT_HOURS = _positive_int("PDVA_JOBS_RESULT_HOURS", 24)
PDVA_JOBS_MAX_ATTEMPTS = _positive_int("PDVA_JOBS_MAX_ATTEMPTS", 5)
PDVA_JOBS_RETRY_SECONDS = _positive_int("PDVA_JOBS_RETRY_SECONDS", 30)  # first backoff; doubles each time
# A worker without a heartbeat for this long is presumed dead; its jobs go back to the queue.
PDVA_JOBS_STALLED_SECONDS = _positive_int("PDVA_JOBS_STALLED_SECONDS", 60)
PDVA_JOBS_SWEEP_CRON = os.environ.get("PDVA_JOBS_SWEEP_CRON", "").strip() or "* * * * *"  # stalled-job check


# A report snapshot is recomputed at most this often per scope (0: after every change). A registry in use
# changes every few seconds; recomputing the national analysis for each change would keep a core busy.
PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS = parse_int(
    os.environ, "PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS", 300, minimum=0
)


def _cron(name: str, cron: str) -> str:
    import croniter

    if not croniter.croniter.is_valid(cron):
        raise ConfigError(f"{name}: {cron!r} is not a cron expression (5 fields, or 6 with seconds)")
    return cron


def _job_crons(raw: str) -> dict[str, str]:
    """PDVA_JOBS_CRON="followup.daily_run=30 1 * * *;reports.quarterly=0 6 16 1,4,7,10 *" (UTC)."""
    crons = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        kind, _, cron = part.partition("=")
        crons[kind.strip()] = _cron(f"PDVA_JOBS_CRON ({kind.strip() or '?'})", cron.strip())
    return crons


PDVA_JOBS_CRON = _job_crons(os.environ.get("PDVA_JOBS_CRON", ""))
_cron("PDVA_JOBS_SWEEP_CRON", PDVA_JOBS_SWEEP_CRON)
# ==== end background jobs =================================================================================

# ==== Audit checkpoints (pdva.audit.checkpoints; docs/audit.md) =========================================
# Signed checkpoints of the audit chain's head, written outside the database (append-only/WORM storage).
# As PDVA_JOBS_DIR, it defaults to a folder in PDVA_VAR_DIR, in production too; /health/ready says so there
# (a folder on the database server is not outside an attacker's reach: set it to separate storage).
_checkpoint_dir = os.environ.get("PDVA_AUDIT_CHECKPOINT_DIR", "").strip()
PDVA_AUDIT_CHECKPOINT_DIR_SET = bool(_checkpoint_dir)
PDVA_AUDIT_CHECKPOINT_DIR = (
    Path(_checkpoint_dir).resolve()
    if _checkpoint_dir
    else (
        Path(os.environ.get("TMPDIR", "/tmp")) / f"pdva-test-checkpoints-{os.getpid()}"
        if ENV.testing
        else ENV.var_dir / "audit-checkpoints"
    )
)
# Optional Ed25519 key (PEM file) signing each checkpoint; the public key (PEM) checks them where the
# private key is not kept. Neither is ever in the database.
PDVA_AUDIT_CHECKPOINT_SIGNING_KEY = os.environ.get("PDVA_AUDIT_CHECKPOINT_SIGNING_KEY", "").strip()
PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY = os.environ.get("PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY", "").strip()
for _name, _path in (
    ("PDVA_AUDIT_CHECKPOINT_SIGNING_KEY", PDVA_AUDIT_CHECKPOINT_SIGNING_KEY),
    ("PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY", PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY),
):
    if _path and not Path(_path).is_file():
        raise ConfigError(f"{_name}: no key file at {_path}")
# Where each checkpoint line is mailed (the governance contact; comma-separated), if anywhere.
PDVA_AUDIT_CHECKPOINT_EMAIL = [
    a.strip() for a in os.environ.get("PDVA_AUDIT_CHECKPOINT_EMAIL", "").split(",") if a.strip()
]
for _address in PDVA_AUDIT_CHECKPOINT_EMAIL:
    if "@" not in _address:
        raise ConfigError(f"PDVA_AUDIT_CHECKPOINT_EMAIL must be email addresses, got {_address!r}")
# ==== end audit checkpoints ===============================================================================

# Optional key encrypting backup files (pdva.core.lib.sealed): 32 url-safe base64 bytes, kept apart from the
# backups (a backup cannot be restored without it). Unset: backups are owner-only files, not encrypted.
_BACKUP_KEY_TEXT = os.environ.get("PDVA_BACKUP_KEY", "").strip()
try:
    from pdva.core.lib.sealed import parse_key as _parse_backup_key

    PDVA_BACKUP_KEY: bytes | None = _parse_backup_key(_BACKUP_KEY_TEXT) if _BACKUP_KEY_TEXT else None
except ValueError as _exc:
    raise ConfigError(
        f"PDVA_BACKUP_KEY must be 32 url-safe base64-encoded bytes ({_exc}); make one with: "
        "python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
    ) from _exc
