"""REST: virtual MCP servers (``mcp/configs``).

``configs`` holds the config CRUD views and ``serializers`` the shapes they share with the
per-user readiness and session-token views (``accounts.apis``, above configs: they stand on
connected accounts). Import the views from here.
"""

from .configs import McpConfigDetailApi, McpConfigListCreateApi
from .serializers import ACCOUNT_STATUSES

__all__ = [
    "ACCOUNT_STATUSES",
    "McpConfigDetailApi",
    "McpConfigListCreateApi",
]
