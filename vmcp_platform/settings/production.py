"""Production: the same settings as base, with every dev default refused and the edges hardened."""

import os

os.environ["VMCP_ENV"] = "production"

from .base import *  # noqa: E402,F403
from .base import PUBLIC_BASE_URL  # noqa: E402

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = PUBLIC_BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_HSTS_SECONDS = 31536000 if SESSION_COOKIE_SECURE else 0
X_FRAME_OPTIONS = "DENY"
