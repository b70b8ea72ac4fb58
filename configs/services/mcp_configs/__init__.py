"""Writes for virtual MCP servers (``McpConfig`` and its connection→tool mappings).

``writes`` holds the services, ``validation`` the checks they run first.
"""

from .features import MAX_OVERRIDE_DESCRIPTION
from .validation import MAX_DESCRIPTION, MAX_MAPPINGS, MAX_RATE_LIMIT, TOOL_NAME_RE
from .writes import mcp_config_create, mcp_config_delete, mcp_config_update

__all__ = [
    "MAX_DESCRIPTION",
    "MAX_MAPPINGS",
    "MAX_OVERRIDE_DESCRIPTION",
    "MAX_RATE_LIMIT",
    "TOOL_NAME_RE",
    "mcp_config_create",
    "mcp_config_delete",
    "mcp_config_update",
]
