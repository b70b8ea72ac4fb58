from django.urls import path

from .apis import mcp

urlpatterns = [
    path("mcp/configs", mcp.McpConfigListCreateApi.as_view(), name="mcp-configs"),
    path("mcp/configs/<uuid:config_id>", mcp.McpConfigDetailApi.as_view(), name="mcp-config"),
    path(
        "mcp/configs/<uuid:config_id>/connected_accounts",
        mcp.McpConfigReadinessApi.as_view(),
        name="mcp-config-connected-accounts",
    ),
    path(
        "mcp/configs/<uuid:config_id>/tokens",
        mcp.SessionTokenListMintApi.as_view(),
        name="mcp-config-tokens",
    ),
    path(
        "mcp/configs/<uuid:config_id>/tokens/revoke",
        mcp.SessionTokenRevokeForIdentifierApi.as_view(),
        name="mcp-config-tokens-revoke",
    ),
    path("mcp/tokens/<uuid:token_id>", mcp.SessionTokenRevokeApi.as_view(), name="mcp-token"),
]
