"""REST: virtual MCP servers (``mcp/configs``), per-user readiness and session tokens.

``configs`` holds the config CRUD views, ``readiness`` the per-user readiness check, ``tokens``
the session-token views and ``serializers`` the shapes they share. Import the views from here.
"""

from accounts.apis.readiness import McpConfigReadinessApi
from accounts.apis.tokens import (
    SessionTokenListMintApi,
    SessionTokenRevokeApi,
    SessionTokenRevokeForIdentifierApi,
)

from .configs import McpConfigDetailApi, McpConfigListCreateApi
from .serializers import ACCOUNT_STATUSES

__all__ = [
    "ACCOUNT_STATUSES",
    "McpConfigDetailApi",
    "McpConfigListCreateApi",
    "McpConfigReadinessApi",
    "SessionTokenListMintApi",
    "SessionTokenRevokeApi",
    "SessionTokenRevokeForIdentifierApi",
]
