"""Catchup settings, driven by the environment.

With no environment at all this runs the embedded default: SQLite in ./var,
Celery tasks executed in process, DEBUG off unless asked for. Production sets
DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis) and SECRET_KEY.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DATA_DIR = Path(env_str("CATCHUP_DATA_DIR", str(BASE_DIR / "var")))


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into DATA_DIR.

    A generated key keeps the embedded default working on a fresh clone without
    shipping a known key in the repository.
    """
    key = env_str("SECRET_KEY")
    if key:
        return key
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "inventory",
    # Before findings: its sync receiver classifies the addresses the rules then read.
    "ips",
    "findings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every page needs a login; the few public URLs are listed in the middleware.
    "catchup.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "catchup.urls"
WSGI_APPLICATION = "catchup.wsgi.application"

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
                "csp.context_processors.nonce",
                "catchup.roles.roles",
            ],
            "builtins": ["django.templatetags.static"],
        },
    }
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'catchup.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web thread read while an in-process sync writes;
        # IMMEDIATE avoids "database is locked" on read-to-write upgrades.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inventory:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Security -------------------------------------------------------------
# HTTPS=1 says users reach Catchup over TLS: cookies only over https, http
# redirected, and browsers told (HSTS) never to try http again. Each can be
# set on its own; `manage.py check --deploy` passes with HTTPS=1,
# SECURE_HSTS_INCLUDE_SUBDOMAINS=1 and SECURE_HSTS_PRELOAD=1 (tests/security).
HTTPS = env_bool("HTTPS")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The CSRF token reaches htmx through the page (base.html hx-headers), never
# through JavaScript reading the cookie.
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# docker-compose's health check calls plain http inside the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
# Off unless asked: both reach beyond this host (every subdomain; browsers'
# built-in lists) and are slow to undo.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
# Behind a TLS-terminating proxy (BEHIND_PROXY=1), trust its X-Forwarded-Proto,
# and take the client address for login throttling from its X-Forwarded-For.
# Only set it when the proxy overwrites those headers: clients can send them too.
BEHIND_PROXY = env_bool("BEHIND_PROXY")
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CATCHUP_TRUSTED_PROXIES = env_int("CATCHUP_TRUSTED_PROXIES", 1 if BEHIND_PROXY else 0)
# Login throttling (catchup/throttle.py): failures per username and per client
# address within the window, after which logins are refused until it ends.
CATCHUP_LOGIN_MAX_FAILURES = env_int("CATCHUP_LOGIN_MAX_FAILURES", 5)
CATCHUP_LOGIN_MAX_FAILURES_PER_IP = env_int("CATCHUP_LOGIN_MAX_FAILURES_PER_IP", 20)
CATCHUP_LOGIN_LOCKOUT_SECONDS = env_int("CATCHUP_LOGIN_LOCKOUT_SECONDS", 900)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts only from our own origin (htmx is served from static files); no
# inline scripts, no eval. Styles likewise.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")

# --- Cache ------------------------------------------------------------------
# Login throttling counts failures here, so several web processes must share
# it: Redis when one is configured (CACHE_URL, else REDIS_URL, else a Redis
# broker), otherwise the process's memory (the embedded default: one process).
CACHE_URL = env_str("CACHE_URL") or env_str("REDIS_URL")
if not CACHE_URL and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHE_URL = CELERY_BROKER_URL
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # Keys apart from Celery's when they share a Redis database.
            "KEY_PREFIX": "catchup",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Without a broker, tasks run in process: a sync runs in a background thread of
# the web (or management command) process. See catchup/dispatch.py.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# Acknowledge after the task ran, so a task whose worker died is redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task at a time per worker process: collections are long and uneven.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A collection of one service in one region never legitimately takes this long;
# past it the task is killed and the unit recorded as failed.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CATCHUP_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
# Redelivery of an unacknowledged task after its worker died: keep it longer
# than the time limit so a slow task is not delivered twice while it runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 120}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# When Redis goes away mid-sync the worker keeps running the unit it holds (its claim and
# heartbeat live in the database) and reconnects; units whose messages Redis lost are
# failed by the stale-sync reaper (tests/inventory/test_worker_faults.py).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "reap-stale-syncs": {"task": "inventory.reap_stale_syncs", "schedule": 60.0},
    "scheduled-syncs": {"task": "inventory.start_scheduled_syncs", "schedule": 300.0},
    # Accepted risks and false positives whose expiry passed reopen (also
    # checked at every evaluation).
    "reopen-expired-findings": {"task": "findings.reopen_expired", "schedule": 3600.0},
}

# --- Catchup ------------------------------------------------------------------
# Every AWS client goes here when set (a moto server, LocalStack…). An account's
# own endpoint override wins.
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL")
# Parallel AWS calls of one in-process sync (thread pool size).
CATCHUP_SYNC_CONCURRENCY = env_int("CATCHUP_SYNC_CONCURRENCY", 8)
# A running sync with no progress for this long is considered dead (its worker
# was killed) and ends as failed.
CATCHUP_SYNC_STALE_SECONDS = env_int("CATCHUP_SYNC_STALE_SECONDS", 900)
# Resource pages show this many rows at a time.
CATCHUP_PAGE_SIZE = env_int("CATCHUP_PAGE_SIZE", 50)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "catchup@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # botocore logs request bodies at DEBUG; never let that reach the logs.
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
