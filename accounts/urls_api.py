"""REST routes for connected accounts (under /t/<tenant>/api/v1/)."""

from django.urls import path

from accounts.apis import accounts as apis

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
]
