"""Tests: base settings, tuned only for speed."""

import os

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
VMCP_SSRF_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# A daphne/Celery process started by the suite is pointed at pytest's test database.
_live_database = os.environ.get("VMCP_LIVE_DATABASE_NAME")
if _live_database:
    DATABASES["default"]["NAME"] = _live_database  # noqa: F405

# A suite's daphne may check its streams more often than production does (fail-closed tests).
if os.environ.get("VMCP_MCP_STREAM_HEARTBEAT_SECONDS"):
    VMCP_MCP_STREAM_HEARTBEAT_SECONDS = float(os.environ["VMCP_MCP_STREAM_HEARTBEAT_SECONDS"])
