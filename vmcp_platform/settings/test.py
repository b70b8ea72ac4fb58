"""Tests: base settings, tuned only for speed."""

import os

from .base import *  # noqa: F403
from .env import env_int

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
VMCP_SSRF_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Every test request comes from 127.0.0.1, and many try bad tokens on purpose: the suite's
# long-lived daphne must not lock itself out. Tests of the limit lower it (env or settings).
VMCP_AUTH_FAILURES_PER_WINDOW = env_int("VMCP_AUTH_FAILURES_PER_WINDOW", 1_000_000)  # noqa: F405

# A daphne/Celery process started by the suite is pointed at pytest's test database.
_live_database = os.environ.get("VMCP_LIVE_DATABASE_NAME")
if _live_database:
    DATABASES["default"]["NAME"] = _live_database  # noqa: F405

# A suite's daphne may check its streams more often than production does (fail-closed tests).
if os.environ.get("VMCP_MCP_STREAM_HEARTBEAT_SECONDS"):
    VMCP_MCP_STREAM_HEARTBEAT_SECONDS = float(os.environ["VMCP_MCP_STREAM_HEARTBEAT_SECONDS"])

# Resource-subscription watchers re-check often, so revocation tests end them quickly.
VMCP_MCP_SUBSCRIPTION_CHECK_SECONDS = 1
