"""Settings: the one source of truth, driven by the environment.

Tenancy is decided here, visibly: SHARED_APPS live in the public schema, TENANT_APPS in every
tenant's schema. ``VMCP_ENV=production`` (set by ``settings.production``) turns every dev default
into a hard requirement.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import dev_default, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VMCP_VAR_DIR", str(BASE_DIR / "var")))
PRODUCTION = env_str("VMCP_ENV", "development") == "production"

# ---------------------------------------------------------------- tenancy
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    # Code only (no models, so no migrations in any schema); the catalogue is the same for
    # every tenant, hence shared.
    "connectors",
    "dashboard",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "configs",
    "vault",
    # No models (its accounts live in vault.models); listed for its Celery tasks.
    "accounts",
    "audit",
    "gateway",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]
TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# Tenants are created with their schema; a deleted tenant takes its schema (and keys) with it.
TENANT_CREATION_FAKES_MIGRATIONS = False

# ---------------------------------------------------------------- core
# Off unless asked for, in development too: Django's debug pages show settings (the Redis URL,
# paths) to whoever triggers an error, and `make run` serves anonymous visitors. Developers
# turn it on with DEBUG=true or `launcher run --debug`.
DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = dev_default(
    "SECRET_KEY", VAR_DIR, lambda: secrets.token_urlsafe(50), production=PRODUCTION
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
if "*" in ALLOWED_HOSTS:
    # The MCP endpoint relies on Host validation against DNS rebinding.
    raise ImproperlyConfigured("ALLOWED_HOSTS must list host names; '*' is not accepted.")
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
if (
    urlparse(PUBLIC_BASE_URL).scheme not in {"http", "https"}
    or not urlparse(PUBLIC_BASE_URL).netloc
):
    raise ImproperlyConfigured(
        f"PUBLIC_BASE_URL must be an absolute http(s) URL, got {PUBLIC_BASE_URL!r}."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL])

# ---------------------------------------------------------------- e-mail
# Member invitations and password resets. With EMAIL_HOST set, mail goes out over SMTP; without
# it, development prints each message on the console and production sends none (the dashboard
# then offers no "forgot password" and shows invitation links to copy instead).
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "vmcp <noreply@localhost>")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
VMCP_EMAIL_ENABLED = bool(EMAIL_HOST) or not PRODUCTION
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)


def _generate_master_keys() -> str:
    return "1:" + base64.b64encode(os.urandom(32)).decode()


VMCP_MASTER_KEYS = dev_default(
    "VMCP_MASTER_KEYS", VAR_DIR, _generate_master_keys, production=PRODUCTION
)


def _validate_master_keys(value: str) -> None:
    from vault.crypto import MasterKeyRing

    try:
        MasterKeyRing.parse(value)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


_validate_master_keys(VMCP_MASTER_KEYS)

# ---------------------------------------------------------------- database and redis
_database_url = env_str("DATABASE_URL", "")
if not _database_url:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "The environment variable DATABASE_URL is required in production."
        )
    # Development without a URL: the launcher's embedded server (started by `make run`).
    from vmcp_platform.embedded import embedded_database_url

    _database_url = embedded_database_url()
try:
    # Persistent connections: opening one per ORM step cost ~13 ms per tools/call (bench/).
    _db = dj_database_url.parse(
        _database_url,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
if _db.get("ENGINE") != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or postgresql:// URL.")
_db["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if not REDIS_URL:
    if PRODUCTION:
        raise ImproperlyConfigured("The environment variable REDIS_URL is required in production.")
    from vmcp_platform.embedded import embedded_redis_url

    REDIS_URL = embedded_redis_url()
_redis = urlparse(REDIS_URL)
if _redis.scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured("REDIS_URL must be a redis://, rediss:// or unix:// URL.")
# Celery spells a unix socket differently from redis-py.
CELERY_BROKER_URL = (
    f"redis+socket://{unquote(_redis.path)}" if _redis.scheme == "unix" else REDIS_URL
)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

# ---------------------------------------------------------------- web
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tenants.middleware.TenantPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
ROOT_URLCONF = "vmcp_platform.urls"
ASGI_APPLICATION = "vmcp_platform.asgi.application"
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
            ],
        },
    }
]
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.TenantRolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "vmcp_platform.exception_handler.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "vmcp_platform.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "vmcp API",
    "DESCRIPTION": "Virtual MCP servers: connections, connected accounts, scoped MCP configs, "
    "session tokens, tool execution and the audit trail.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Tags from the path after the tenant prefix ("mcp", "connections", ...).
    "SCHEMA_PATH_PREFIX": r"/t/\{tenant\}/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "vault.models.ConnectedAccount.Status",
        "ReadinessStatusEnum": "configs.apis.mcp.ACCOUNT_STATUSES",
    },
}

# ---------------------------------------------------------------- the product
# Hosts every outbound request (vmcp_platform/egress) and every saved URL field may use even
# though they resolve to loopback/private addresses: the SSRF guard's one escape hatch. Empty in
# production unless the operator opts in.
VMCP_SSRF_ALLOWED_HOSTS = env_list("VMCP_SSRF_ALLOWED_HOSTS", [])
VMCP_ALLOWED_ORIGINS = env_list("VMCP_ALLOWED_ORIGINS", [PUBLIC_BASE_URL])
# The MCP endpoint's warm path (gateway/warm): tools/call and tools/list authorized by one
# async statement, audit rows by group commit. Off: everything goes through the ORM.
VMCP_MCP_WARM_PATH = env_bool("VMCP_MCP_WARM_PATH", True)
VMCP_CONNECT_LINK_TTL_SECONDS = env_int("VMCP_CONNECT_LINK_TTL_SECONDS", 15 * 60)
VMCP_MCP_SESSION_TTL_SECONDS = env_int("VMCP_MCP_SESSION_TTL_SECONDS", 60 * 60)

# ---------------------------------------------------------------- shared-state limits
# One token (or one stranger) must not exhaust what every tenant shares: Redis memory, stream
# slots, the database's audit table. Each limit is per token and per tenant; see the README's
# "Security model" for what happens beyond each one.
# An initialize whose capabilities + clientInfo serialize to more than this is refused (-32602);
# real clients send a few hundred bytes. Only capability flags and clientInfo name/version/title
# are stored anyway (gateway/mcp/sessions.py).
VMCP_MCP_CLIENT_METADATA_MAX_BYTES = env_int("VMCP_MCP_CLIENT_METADATA_MAX_BYTES", 8 * 1024)
# Live 2025-11-25 sessions: beyond the token's bound its least recently used session is evicted;
# beyond the tenant's bound a new initialize is refused (429).
VMCP_MCP_SESSIONS_PER_TOKEN = env_int("VMCP_MCP_SESSIONS_PER_TOKEN", 16)
VMCP_MCP_SESSIONS_PER_TENANT = env_int("VMCP_MCP_SESSIONS_PER_TENANT", 5000)
# Concurrently open streams (legacy GET, subscriptions/listen, SSE responses): beyond either
# bound a new one is refused (429). A slot is a lease renewed while the stream is open, so a
# crashed process gives its slots back after the lease.
VMCP_MCP_STREAMS_PER_TOKEN = env_int("VMCP_MCP_STREAMS_PER_TOKEN", 8)
VMCP_MCP_STREAMS_PER_TENANT = env_int("VMCP_MCP_STREAMS_PER_TENANT", 500)
VMCP_MCP_STREAM_SLOT_LEASE_SECONDS = env_int("VMCP_MCP_STREAM_SLOT_LEASE_SECONDS", 60)
# How often a resource subscription's upstream watcher re-checks that its session, token,
# mapping and the user's account still allow it (it ends, unsubscribing upstream, if not).
VMCP_MCP_SUBSCRIPTION_CHECK_SECONDS = env_int("VMCP_MCP_SUBSCRIPTION_CHECK_SECONDS", 15)
# initialize and server/discover, per token and per tenant (GCRA, like tool calls).
VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TOKEN = env_int("VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TOKEN", 60)
VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TENANT = env_int(
    "VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TENANT", 1200
)
# Failed bearer authentications per source address (MCP endpoint and REST API counted apart):
# after this many in a window, the source gets 429 without its token being checked.
VMCP_AUTH_FAILURES_PER_WINDOW = env_int("VMCP_AUTH_FAILURES_PER_WINDOW", 20)
VMCP_AUTH_FAILURE_WINDOW_SECONDS = env_int("VMCP_AUTH_FAILURE_WINDOW_SECONDS", 5 * 60)
# How many reverse proxies in front of vmcp append to X-Forwarded-For. 0: the header is ignored
# and the source is the peer address (a client could otherwise pick its own source).
VMCP_TRUSTED_PROXY_COUNT = env_int("VMCP_TRUSTED_PROXY_COUNT", 0)
# Audit rows the database refused wait in a Redis list for the drain; bounded, so a database
# outage (or a caller provoking refusals) cannot fill the Redis every tenant needs.
VMCP_AUDIT_SPOOL_MAX_ROWS = env_int("VMCP_AUDIT_SPOOL_MAX_ROWS", 100_000)
# Outbound bounds (vmcp_platform/egress): response sizes and the time a tool call may take.
VMCP_MAX_PROVIDER_RESPONSE_BYTES = env_int("VMCP_MAX_PROVIDER_RESPONSE_BYTES", 5 * 1024 * 1024)
VMCP_UPSTREAM_MAX_RESPONSE_BYTES = env_int("VMCP_UPSTREAM_MAX_RESPONSE_BYTES", 8 * 1024 * 1024)
VMCP_TOOL_TIMEOUT_SECONDS = env_int("VMCP_TOOL_TIMEOUT_SECONDS", 30)

# Observability (vmcp_platform.observability; README "Observability").
# /metrics: a bearer token; unset, loopback peers only.
VMCP_METRICS_TOKEN = env_str("VMCP_METRICS_TOKEN", "")
# The tenant label names at most this many tenants per process (then "other"; 0: no label).
VMCP_METRICS_MAX_TENANTS = env_int("VMCP_METRICS_MAX_TENANTS", 100)
# "plain" (default) or "json": one JSON object per line, plus one line per MCP request.
VMCP_LOG_FORMAT = env_str("VMCP_LOG_FORMAT", "plain").lower()
if VMCP_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("VMCP_LOG_FORMAT must be 'plain' or 'json'.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "vmcp_platform.logging.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "vmcp_platform.observability.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            # The filter runs before the formatter, so JSON lines are redacted too.
            "formatter": VMCP_LOG_FORMAT,
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The HTTP clients log every request's full URL at INFO: an API key an OpenAPI document
        # places in the query (?key=…, ?appid=…) would be written under a name the redactor
        # cannot know. Their warnings and errors still come through.
        **{name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "httpcore2")},
    },
}
