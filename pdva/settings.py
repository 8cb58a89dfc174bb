"""Django settings, read from the environment.

Every setting that matters comes from a ``PDVA_*`` variable. Wrong values fail loudly at start-up:
a registry that silently falls back to a default database or key is worse than one that will not start.
"""

from __future__ import annotations

import os
from pathlib import Path

from pdva.core.config import ConfigError, Environment, load_environment

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
    "django.middleware.security.SecurityMiddleware",
    "pdva.core.middleware.RejectNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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

STATIC_URL = "/static/"
STATIC_ROOT = ENV.var_dir / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = ENV.production
CSRF_COOKIE_SECURE = ENV.production
SESSION_COOKIE_AGE = 8 * 3600
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
PDVA_PROM_EMAIL_TEMPLATES = "proms/email"
PDVA_FOLLOWUP_DIGEST_TEMPLATE = "followup/email/digest.txt"

EMAIL_BACKEND = ENV.email_backend
EMAIL_HOST = ENV.email_host
DEFAULT_FROM_EMAIL = ENV.email_from

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
