"""The dashboard under /t/<tenant>/dashboard/ (namespace "dashboard")."""

from django.urls import path

from .views import (
    accounts,
    audit,
    connections,
    connectors,
    oauth,
    openapi,
    overview,
    playground,
    servers,
    settings,
    tokens,
)

app_name = "dashboard"

urlpatterns = [
    path("", overview.home, name="home"),
    path("connectors/", connectors.catalog, name="connectors"),
    # Connections
    path("connections/", connections.connection_list_page, name="connections"),
    path("connections/new/", connections.connection_new, name="connection-new"),
    # Import an OpenAPI document (before <name>/: "import-openapi" is a valid connection name)
    path("connections/import-openapi/", openapi.openapi_import, name="openapi-import"),
    path("connections/<str:name>/", connections.connection_detail, name="connection"),
    path(
        "connections/<str:name>/operations/",
        openapi.openapi_operations,
        name="openapi-operations",
    ),
    path("connections/<str:name>/reimport/", openapi.openapi_reimport, name="openapi-reimport"),
    path(
        "connections/<str:name>/openapi-settings/",
        openapi.openapi_settings,
        name="openapi-settings",
    ),
    path(
        "connections/<str:name>/reimport/apply/",
        openapi.openapi_reimport_apply,
        name="openapi-reimport-apply",
    ),
    path("connections/<str:name>/edit/", connections.connection_edit, name="connection-edit"),
    path("connections/<str:name>/delete/", connections.connection_delete, name="connection-delete"),
    path("connections/<str:name>/sync/", connections.connection_sync, name="connection-sync"),
    # Virtual servers
    path("servers/", servers.server_list, name="servers"),
    path("servers/new/", servers.server_create, name="server-new"),
    path("servers/estimate/", servers.server_estimate, name="server-estimate"),
    path("servers/<uuid:config_id>/", servers.server_detail, name="server"),
    path("servers/<uuid:config_id>/edit/", servers.server_edit, name="server-edit"),
    path("servers/<uuid:config_id>/activity/", servers.server_activity, name="server-activity"),
    path(
        "servers/<uuid:config_id>/playground/",
        playground.server_playground,
        name="server-playground",
    ),
    path("servers/<uuid:config_id>/delete/", servers.server_delete, name="server-delete"),
    # Connected accounts and session tokens
    path("accounts/", accounts.account_list_page, name="accounts"),
    path("accounts/link/", accounts.connect_link_new, name="account-link"),
    path("accounts/<int:account_id>/revoke/", accounts.account_revoke_page, name="account-revoke"),
    path("accounts/end-user/", accounts.end_user_end_page, name="end-user-end"),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/revoke-user/", tokens.tokens_revoke_user, name="tokens-revoke-user"),
    path("tokens/<uuid:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
    # Audit
    path("audit/", audit.event_list, name="audit"),
    path("audit/export/", audit.event_export, name="audit-export"),
    path("audit/<int:event_id>/", audit.event_detail, name="audit-event"),
    # Tenant settings, API keys, members
    path("settings/", settings.settings_page, name="settings"),
    path("settings/update/", settings.settings_update, name="settings-update"),
    path("settings/api-keys/new/", settings.api_key_create, name="apikey-new"),
    path("settings/api-keys/<int:key_id>/revoke/", settings.api_key_revoke, name="apikey-revoke"),
    path("settings/members/", settings.members, name="members"),
    path("settings/oauth/", oauth.oauth_page, name="oauth"),
    path("settings/oauth/update/", oauth.oauth_update, name="oauth-update"),
    path(
        "settings/oauth/grants/revoke-user/",
        oauth.oauth_grants_revoke_user,
        name="oauth-grants-revoke-user",
    ),
    path(
        "settings/oauth/grants/<int:grant_id>/revoke/",
        oauth.oauth_grant_revoke,
        name="oauth-grant-revoke",
    ),
    path(
        "settings/members/<int:membership_id>/remove/",
        settings.member_remove,
        name="member-remove",
    ),
    path(
        "settings/invitations/<int:invitation_id>/revoke/",
        settings.invitation_revoke_page,
        name="invitation-revoke",
    ),
]
