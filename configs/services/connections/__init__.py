"""Writes for connections: create, update, delete, and tool sync for upstream MCP servers.

Settings are validated against the connector; secrets (the OAuth client secret, an upstream's
shared header) go to the vault and nowhere else — not into ``settings``, audit rows or errors.
``validation`` checks, ``writes`` stores, ``sync`` discovers an upstream server's tools.
"""

from .sync import connection_sync_tools
from .validation import (
    HEADER_NAME_RE,
    MAX_SECRET_CHARS,
    MCP_AUTH_TYPES,
    MCP_SETTINGS,
    OAUTH_SETTINGS,
    PROVIDER_URL_KEYS,
    RESERVED_HEADERS,
    allowed_auth_types,
)
from .writes import connection_create, connection_delete, connection_update

__all__ = [
    "HEADER_NAME_RE",
    "MAX_SECRET_CHARS",
    "MCP_AUTH_TYPES",
    "MCP_SETTINGS",
    "OAUTH_SETTINGS",
    "PROVIDER_URL_KEYS",
    "RESERVED_HEADERS",
    "allowed_auth_types",
    "connection_create",
    "connection_delete",
    "connection_sync_tools",
    "connection_update",
]
