"""REST: virtual MCP servers (``mcp/configs``), per-user readiness and session tokens.

``configs`` holds the config CRUD views, ``readiness`` the per-user readiness check, ``tokens``
the session-token views and ``serializers`` the shapes they share. Import the views from here.
"""

from .configs import McpConfigDetailApi, McpConfigListCreateApi
from .readiness import McpConfigReadinessApi
from .serializers import ACCOUNT_STATUSES
from .tokens import (
    SessionTokenListMintApi,
    SessionTokenRevokeApi,
    SessionTokenRevokeForIdentifierApi,
)

__all__ = [
    "ACCOUNT_STATUSES",
    "McpConfigDetailApi",
    "McpConfigListCreateApi",
    "McpConfigReadinessApi",
    "SessionTokenListMintApi",
    "SessionTokenRevokeApi",
    "SessionTokenRevokeForIdentifierApi",
]
