"""REST routes for connected accounts, a config's per-user readiness and its session tokens
(under /t/<tenant>/api/v1/)."""

from django.urls import path

from accounts.apis import accounts as apis
from accounts.apis import end_users, readiness, tokens

urlpatterns = [
    path(
        "connected_accounts",
        apis.ConnectedAccountListCreateApi.as_view(),
        name="connected-accounts",
    ),
    # Before <int:account_id>, which would not match it anyway; kept first for readability.
    path("connected_accounts/magic_link", apis.MagicLinkApi.as_view(), name="magic-link"),
    path(
        "connected_accounts/<int:account_id>",
        apis.ConnectedAccountDetailApi.as_view(),
        name="connected-account",
    ),
    path(
        "mcp/configs/<uuid:config_id>/connected_accounts",
        readiness.McpConfigReadinessApi.as_view(),
        name="mcp-config-connected-accounts",
    ),
    path(
        "mcp/configs/<uuid:config_id>/tokens",
        tokens.SessionTokenListMintApi.as_view(),
        name="mcp-config-tokens",
    ),
    path(
        "mcp/configs/<uuid:config_id>/tokens/revoke",
        tokens.SessionTokenRevokeForIdentifierApi.as_view(),
        name="mcp-config-tokens-revoke",
    ),
    path("mcp/tokens/<uuid:token_id>", tokens.SessionTokenRevokeApi.as_view(), name="mcp-token"),
    path("end_users/revoke", end_users.EndUserRevokeApi.as_view(), name="end-user-revoke"),
]
