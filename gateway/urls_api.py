"""REST routes of the gateway under /t/<tenant>/api/v1/."""

from django.urls import path

from . import apis
from .oauth import apis as oauth_apis

urlpatterns = [
    path("execute_tool", apis.ExecuteToolApi.as_view(), name="execute-tool"),
    path("oauth/settings", oauth_apis.OAuthSettingsApi.as_view(), name="oauth-settings"),
    path("oauth/grants", oauth_apis.OAuthGrantListApi.as_view(), name="oauth-grants"),
    path(
        "oauth/grants/revoke",
        oauth_apis.OAuthGrantRevokeForIdentifierApi.as_view(),
        name="oauth-grants-revoke",
    ),
    path(
        "oauth/grants/<int:grant_id>", oauth_apis.OAuthGrantRevokeApi.as_view(), name="oauth-grant"
    ),
]
