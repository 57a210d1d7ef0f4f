"""Settings for the Nengtan portal, read from the environment and parsed strictly.

Every value comes from an environment variable (or a `.env` file in the project root);
a value that does not parse stops start-up with a message that names the variable.
`NENGTAN_ENV` picks the profile: `development` (the embedded default that `make run`
serves), `test` (what `make test` uses) or `production` (secure by default).
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvError
from marshmallow import ValidationError
from marshmallow.validate import OneOf, Range

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = Env()
env.read_env(str(BASE_DIR / ".env"), recurse=False)

try:
    NENGTAN_ENV: str = env.str(
        "NENGTAN_ENV",
        "development",
        # marshmallow validators must raise; a lambda returning False is silently ignored.
        validate=OneOf(["development", "test", "production"]),
    )
except EnvError as exc:  # pragma: no cover - exercised by tests/test_settings.py in a subprocess
    raise ImproperlyConfigured(f"NENGTAN_ENV must be development, test or production: {exc}") from exc

PRODUCTION = NENGTAN_ENV == "production"


def _stripped(values: list[str]) -> list[str]:
    """Entries of a comma-separated list without the spaces around them, empty ones dropped."""
    return [value.strip() for value in values if value.strip()]


def _ip_networks(values: list[str]) -> None:
    """Each entry an IP address or network, written as gunicorn's --forwarded-allow-ips takes it
    (no host bits: 172.18.0.0/16, not 172.18.0.1/16), so one value serves both."""
    for value in _stripped(values):
        try:
            ipaddress.ip_network(value)
        except ValueError as exc:
            raise ValidationError(
                f"{value!r} is not an IP address or network (for example 10.0.0.5 or 172.18.0.0/16)."
            ) from exc


def _parse() -> dict:
    """Read every environment-driven value at once so one error message lists them all."""
    # A deferred parser collects every bad variable and reports them together at seal().
    env = Env(eager=False)
    with env.prefixed(""):
        values = {
            "DEBUG": env.bool("DEBUG", not PRODUCTION),
            "SECRET_KEY": env.str("SECRET_KEY", None if PRODUCTION else "insecure-development-key-only"),
            "ALLOWED_HOSTS": env.list(
                "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
            ),
            "CSRF_TRUSTED_ORIGINS": env.list("CSRF_TRUSTED_ORIGINS", []),
            # Persistent connections are checked before each request reuses them: after the
            # database restarted, the first request must reconnect, not fail on a dead socket.
            "DATABASE": env.dj_db_url(
                "DATABASE_URL", f"sqlite:///{VAR_DIR / 'nengtan.sqlite3'}", conn_max_age=60,
                conn_health_checks=True,
            ),
            "REDIS_URL": env.str("REDIS_URL", ""),
            "MQTT_URL": env.str("MQTT_URL", ""),
            # Where the broker's password file and ACL live; when set, the portal rewrites them
            # whenever a gateway token is created or revoked (and hourly), see
            # metering.registry.broker.
            "MQTT_CREDENTIALS_DIR": env.str("MQTT_CREDENTIALS_DIR", ""),
            "REQUIRE_2FA_FOR_OFFICIALS": env.bool("REQUIRE_2FA_FOR_OFFICIALS", False),
            # The reverse proxies (addresses or networks) whose X-Forwarded-For is believed; from
            # any other peer the header is ignored (portal.middleware.client_ip).
            "TRUSTED_PROXIES": env.list("TRUSTED_PROXIES", [], validate=_ip_networks),
            "LOGIN_FAILURE_LIMIT": env.int("LOGIN_FAILURE_LIMIT", 5, validate=Range(min=1, max=100)),
            "LOCKOUT_MINUTES": env.int("LOCKOUT_MINUTES", 15, validate=Range(min=1, max=24 * 60)),
            "SESSION_IDLE_MINUTES": env.int("SESSION_IDLE_MINUTES", 60, validate=Range(min=5, max=24 * 60)),
            "DEMO_PASSWORD": env.str("DEMO_PASSWORD", "demo-pass-2026"),
            "LOG_LEVEL": env.log_level("LOG_LEVEL", logging.INFO),
            "STATIC_ROOT": env.path("STATIC_ROOT", VAR_DIR / "staticfiles"),
            "MEDIA_ROOT": env.path("MEDIA_ROOT", VAR_DIR / "media"),
            "SPOOL_DIR": env.path("SPOOL_DIR", VAR_DIR / "spool"),
            "HSTS_SECONDS": env.int("HSTS_SECONDS", 31536000 if PRODUCTION else 0, validate=Range(min=0)),
            "SECURE_SSL_REDIRECT": env.bool("SECURE_SSL_REDIRECT", True),
            # Outgoing mail (alarm notices): Django's SMTP backend, a relay the deployment names.
            "EMAIL_HOST": env.str("EMAIL_HOST", "localhost"),
            "EMAIL_PORT": env.int("EMAIL_PORT", 25, validate=Range(min=1, max=65535)),
            "EMAIL_HOST_USER": env.str("EMAIL_HOST_USER", ""),
            "EMAIL_HOST_PASSWORD": env.str("EMAIL_HOST_PASSWORD", ""),
            "EMAIL_USE_TLS": env.bool("EMAIL_USE_TLS", False),
            "EMAIL_USE_SSL": env.bool("EMAIL_USE_SSL", False),
            "EMAIL_TIMEOUT": env.int("EMAIL_TIMEOUT", 10, validate=Range(min=1, max=300)),
            "DEFAULT_FROM_EMAIL": env.str("DEFAULT_FROM_EMAIL", "能碳平台 <noreply@localhost>"),
        }
    env.seal()
    return values


try:
    _values = _parse()
except EnvError as exc:
    problems = getattr(exc, "error_messages", None) or {}
    detail = "; ".join(
        f"{name}: {' '.join(str(m) for m in messages) if isinstance(messages, list) else messages}"
        for name, messages in problems.items()
    ) or str(exc)
    raise ImproperlyConfigured(f"Invalid environment configuration: {detail}") from exc

if PRODUCTION and not _values["SECRET_KEY"]:
    raise ImproperlyConfigured("SECRET_KEY must be set when NENGTAN_ENV=production.")
if PRODUCTION and len(_values["SECRET_KEY"]) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters in production.")
if PRODUCTION and not _values["ALLOWED_HOSTS"]:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when NENGTAN_ENV=production.")

DEBUG: bool = _values["DEBUG"]
SECRET_KEY: str = _values["SECRET_KEY"]
ALLOWED_HOSTS: list[str] = _values["ALLOWED_HOSTS"]
CSRF_TRUSTED_ORIGINS: list[str] = _values["CSRF_TRUSTED_ORIGINS"]
REDIS_URL: str = _values["REDIS_URL"]
MQTT_URL: str = _values["MQTT_URL"]
MQTT_CREDENTIALS_DIR: Path | None = (
    Path(_values["MQTT_CREDENTIALS_DIR"]) if _values["MQTT_CREDENTIALS_DIR"] else None
)
DEMO_PASSWORD: str = _values["DEMO_PASSWORD"]
SPOOL_DIR: Path = _values["SPOOL_DIR"]
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST: str = _values["EMAIL_HOST"]
EMAIL_PORT: int = _values["EMAIL_PORT"]
EMAIL_HOST_USER: str = _values["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD: str = _values["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS: bool = _values["EMAIL_USE_TLS"]
EMAIL_USE_SSL: bool = _values["EMAIL_USE_SSL"]
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set one of them.")
EMAIL_TIMEOUT: int = _values["EMAIL_TIMEOUT"]
DEFAULT_FROM_EMAIL: str = _values["DEFAULT_FROM_EMAIL"]
SERVER_EMAIL: str = DEFAULT_FROM_EMAIL

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    # API clients' keys (portal.ApiClient builds on its AbstractAPIKey; its own APIKey table stays empty).
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal",
    "applications",
    "metering",
    "metering.monitoring",
    "metering.alarms",
    "metering.outbox",
    "metering.reports",
    "reviews",
]

MIDDLEWARE = [
    # Outermost, so it has the last word on every /api/ answer: errors in the one JSON shape.
    "portal.api.errors.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside everything that reads the database: while it is down, answers are 503 + Retry-After.
    "portal.outage.DatabaseOutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.middleware.RequestContextMiddleware",
    "portal.middleware.SecondFactorMiddleware",
    "portal.middleware.ReachMiddleware",
    # axes last, as its documentation asks, so it sees the final response of a login attempt.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {"default": _values["DATABASE"]}
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if not IS_POSTGRES:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # SQLite is the embedded default for one person's local run; WAL lets the collectors and
    # the web server write at the same time without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # SQLite cannot enforce a unique constraint whose NULLs are not distinct (monitoring.Factor:
    # one row per set, energy type, variant, unit, basis, year and region). Every factor write
    # goes through full_clean, which checks it, and PostgreSQL enforces it; the warning would
    # only print on every command of the embedded default.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = _values["STATIC_ROOT"]
MEDIA_URL = "/media/"
MEDIA_ROOT = _values["MEDIA_ROOT"]
# Export files (metering.reports): beside MEDIA_ROOT, never under it (nothing there has a public
# URL), on the same volume, so the worker that writes a file and the web process that hands it out
# (only after the access check) see the same folder: /data/exports in docker-compose.
EXPORTS_ROOT = Path(MEDIA_ROOT).parent / "exports"
# Under MEDIA_ROOT (which nothing serves by URL), so backups and restores carry the attachments.
PRIVATE_MEDIA_ROOT = Path(MEDIA_ROOT) / "private"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Never served by URL (no base_url under MEDIA_URL): see metering.reports.views.export_job_download.
    "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": EXPORTS_ROOT, "base_url": "/no-public-url/"},
    },
    # Application attachments (applications.Attachment): no public URL either; a file is handed out
    # only by applications' download view, after the access check.
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_MEDIA_ROOT, "base_url": "/no-public-url/"},
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"

# Sessions expire after a period of inactivity, and with the browser.
SESSION_COOKIE_AGE = _values["SESSION_IDLE_MINUTES"] * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and _values["SECURE_SSL_REDIRECT"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = _values["HSTS_SECONDS"]
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = False

# Content Security Policy: everything from our own origin; no CDN is ever used.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}

# Lockout after repeated failed logins (django-axes), per user name and address.
AXES_FAILURE_LIMIT = _values["LOGIN_FAILURE_LIMIT"]
AXES_COOLOFF_TIME = timedelta(minutes=_values["LOCKOUT_MINUTES"])
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.views.auth.lockout_response"
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "token", "otp_token"]
# Lockouts are keyed by the same client address as the audit trail: the peer, or what a trusted
# proxy reports. Behind the proxy every request's peer is the proxy itself.
AXES_CLIENT_IP_CALLABLE = "portal.middleware.client_ip"
TRUSTED_PROXIES: list[str] = _stripped(_values["TRUSTED_PROXIES"])

REQUIRE_2FA_FOR_OFFICIALS: bool = _values["REQUIRE_2FA_FOR_OFFICIALS"]
OTP_TOTP_ISSUER = "Nengtan 能碳"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "portal.api.clients.ApiClientAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "portal.api.clients.ApiClientScope",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {"token": "20/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Nengtan 能碳 API",
    "DESCRIPTION": "Enterprises, meters and monitoring data of the Nengtan portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc are served from our own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: Redis when REDIS_URL is set; otherwise tasks run in-process (the embedded default).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict = {}
# Due Modbus devices are looked for this often; each device still polls at its own period.
MODBUS_DISPATCH_INTERVAL_S = 5.0
CELERY_BEAT_SCHEDULE["metering-dispatch-modbus"] = {
    "task": "metering.tasks.dispatch_due_devices",
    "schedule": MODBUS_DISPATCH_INTERVAL_S,
    # A run that waited longer than its interval is superseded by the next one.
    "options": {"expires": MODBUS_DISPATCH_INTERVAL_S},
}
# Readings spooled while the database refused them are replayed this often, apart from the
# dispatch of polls: they start to arrive within seconds of the database's return.
SPOOL_DRAIN_INTERVAL_S = 2.0
CELERY_BEAT_SCHEDULE["metering-drain-spools"] = {
    "task": "metering.tasks.drain_reading_spools",
    "schedule": SPOOL_DRAIN_INTERVAL_S,
    # A pass that waited longer than its interval is superseded by the next one.
    "options": {"expires": SPOOL_DRAIN_INTERVAL_S},
}
# Monthly reading partitions are created ahead of time (and back-dated rows moved out of the
# default partition) once a day.
CELERY_BEAT_SCHEDULE["metering-ensure-partitions"] = {
    "task": "metering.tasks.ensure_reading_partitions",
    "schedule": timedelta(days=1),
}
# The broker's files follow every token change at once; this catches what no signal announces
# (an enterprise deleted with its tokens, a refresh lost while Redis was down). A no-op without
# MQTT_CREDENTIALS_DIR.
CELERY_BEAT_SCHEDULE["metering-refresh-broker-credentials"] = {
    "task": "metering.tasks.refresh_broker_credentials",
    "schedule": timedelta(hours=1),
}
# Rollups are recomputed right after each ingest commit (a queued task); this is the net beneath
# it: ranges whose task was lost, claims of a dead worker after their lease, a Redis outage.
ROLLUP_RECOMPUTE_INTERVAL_S = 60.0
# The queued recompute starts this long after the batch that queued it: the batches of a burst
# arriving meanwhile are recomputed in the same run (one run's fixed cost, whole days' spacing read
# once, and the worker off the cores while the burst is ingested). The rollups then lag the
# readings by at most this plus the run itself (bench/ reports the lag).
ROLLUP_RECOMPUTE_COALESCE_S = 2.0
CELERY_BEAT_SCHEDULE["monitoring-recompute-rollups"] = {
    "task": "monitoring.tasks.recompute_rollups",
    "schedule": ROLLUP_RECOMPUTE_INTERVAL_S,
    # A run that waited longer than its interval is superseded by the next one.
    "options": {"expires": ROLLUP_RECOMPUTE_INTERVAL_S},
}
# Alarms: offline meters, event alarms gone quiet, and alarm mails due (new or to retry).
ALARM_SWEEP_INTERVAL_S = 60.0
CELERY_BEAT_SCHEDULE["alarms-sweep"] = {
    "task": "alarms.tasks.sweep_alarms",
    "schedule": ALARM_SWEEP_INTERVAL_S,
    # A sweep that waited longer than its interval is superseded by the next one.
    "options": {"expires": ALARM_SWEEP_INTERVAL_S},
}
# Upload to provincial platforms (metering/outbox, docs/outbox.md). Finished buckets are
# enqueued this often; a bucket counts as finished OUTBOX_SETTLE_S after its end, so the
# readings of its last minutes are in and rolled up (later ones arrive as a correction).
OUTBOX_ENQUEUE_INTERVAL_S = 60.0
OUTBOX_SETTLE_S = 120.0
CELERY_BEAT_SCHEDULE["outbox-enqueue"] = {
    "task": "outbox.tasks.enqueue_outbox",
    "schedule": OUTBOX_ENQUEUE_INTERVAL_S,
    # A run that waited longer than its interval is superseded by the next one.
    "options": {"expires": OUTBOX_ENQUEUE_INTERVAL_S},
}
# Due messages are delivered right after each enqueue (a queued task); this is the net beneath
# it and what takes the retries when they fall due. Retries wait base × 2^(attempts−1), capped.
OUTBOX_DELIVER_INTERVAL_S = 15.0
OUTBOX_RETRY_BASE_S = 30.0
OUTBOX_RETRY_CAP_S = 3600.0
# Plain HTTP to a loopback address for platform endpoints: off, and not read from the environment,
# so no deployment can turn it on; only the tests' local receiver does (pytest's settings fixture).
OUTBOX_ALLOW_LOOPBACK_HTTP = False
CELERY_BEAT_SCHEDULE["outbox-deliver"] = {
    "task": "outbox.tasks.deliver_outbox",
    "schedule": OUTBOX_DELIVER_INTERVAL_S,
    "options": {"expires": OUTBOX_DELIVER_INTERVAL_S},
}
# Review mails (reviews/notifications.py) are sent by a task each; this is the net beneath them:
# mails whose task gave up while the mail server was away, or was never queued.
REVIEW_MAIL_SWEEP_INTERVAL_S = 300.0
CELERY_BEAT_SCHEDULE["reviews-send-due-mails"] = {
    "task": "reviews.tasks.send_due_notification_mails",
    "schedule": REVIEW_MAIL_SWEEP_INTERVAL_S,
    "options": {"expires": REVIEW_MAIL_SWEEP_INTERVAL_S},
}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": _values["LOG_LEVEL"]},
    # WeasyPrint reports each layout step at INFO, fontTools each subset: a PDF would write
    # hundreds of log lines.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"},
                "fontTools": {"level": "WARNING"}},
}

if NENGTAN_ENV == "test":
    # Hashing cost is not what the tests measure.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests never run collectstatic: skip WhiteNoise's start-up scan of the missing STATIC_ROOT
    # (one "No directory at" warning per test client otherwise).
    WHITENOISE_AUTOREFRESH = True
