"""Reads for connections (current tenant schema)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from connectors import get_connector
from connectors.base import OAuthSpec
from connectors.openapi import OPENAPI_CONNECTOR, PLAN_KEY
from vault.models import Secret
from vault.secrets import secret_fields, secret_get
from vmcp_platform.errors import NotFound

from .models import Connection

MCP_CONNECTOR = "mcp"
DEFAULT_HEADER_NAME = "Authorization"
URL_KEYS = ("api_base_url", "authorize_url", "token_url", "revoke_url", "server_url")


def connection_get(*, name: str) -> Connection:
    """The tenant's connection by name; a name of another tenant simply does not exist here."""
    connection = Connection.objects.filter(name=name).first()
    if connection is None:
        raise NotFound(f"No connection named {name!r}.", details={"name": name})
    return connection


def connection_list(*, connector: str | None = None) -> QuerySet[Connection]:
    connections = Connection.objects.order_by("name")
    if connector:
        connections = connections.filter(connector=connector)
    return connections


def connection_tools(connection: Connection) -> list[dict[str, Any]]:
    """MCP tool definitions: the catalog's, or the last synced list for an upstream server."""
    if connection.connector == MCP_CONNECTOR:
        return [dict(tool) for tool in connection.tools or []]
    if connection.connector == OPENAPI_CONNECTOR:
        # Compiled from the tenant's document; the request plan stays on this side.
        return [{k: v for k, v in t.items() if k != PLAN_KEY} for t in connection.tools or []]
    connector = get_connector(connection.connector)
    if connector is None:
        return []
    return [tool.definition() for tool in connector.tools]


def connection_tool(connection: Connection, name: str) -> dict[str, Any] | None:
    """One tool definition as agents see it, without copying the whole catalogue (an openapi
    connection may hold a thousand)."""
    if connection.connector in (MCP_CONNECTOR, OPENAPI_CONNECTOR):
        stored = next((t for t in connection.tools or [] if t.get("name") == name), None)
        return None if stored is None else {k: v for k, v in stored.items() if k != PLAN_KEY}
    return next((d for d in connection_tools(connection) if d.get("name") == name), None)


def connection_effective_urls(connection: Connection) -> dict[str, str | None]:
    """Connector defaults overridden by the connection's settings."""
    connector = get_connector(connection.connector)
    oauth = connector.oauth if connector is not None else None
    defaults: dict[str, str | None] = {
        "api_base_url": (connector.api_base_url or None) if connector is not None else None,
        "authorize_url": oauth.authorize_url if oauth else None,
        "token_url": oauth.token_url if oauth else None,
        "revoke_url": oauth.revoke_url if oauth else None,
        "server_url": None,
    }
    configured = connection.settings or {}
    if connection.connector == OPENAPI_CONNECTOR:
        # The document's authorization-code flow, checked when the document was imported.
        auth = configured.get("auth") or {}
        defaults["authorize_url"] = auth.get("authorize_url")
        defaults["token_url"] = auth.get("token_url")
    return {key: configured.get(key) or defaults[key] for key in URL_KEYS}


def connection_oauth_spec(connection: Connection) -> OAuthSpec | None:
    """How to run the OAuth flow for ``connection``: its connector's, or for an openapi
    connection the one built from the document's ``authorizationCode`` flow (None: no OAuth)."""
    if connection.connector == OPENAPI_CONNECTOR:
        auth = (connection.settings or {}).get("auth") or {}
        if auth.get("kind") != "oauth2":
            return None
        # RFC 6749 defaults: client credentials in the body (§2.3.1 allows it, and every
        # provider we test takes it), space-separated scopes, RFC 7009 revocation when known.
        return OAuthSpec(
            authorize_url=str(auth.get("authorize_url") or ""),
            token_url=str(auth.get("token_url") or ""),
            default_scopes=tuple(auth.get("scopes") or ()),
            refresh_url=auth.get("refresh_url") or None,
        )
    connector = get_connector(connection.connector)
    return connector.oauth if connector is not None else None


def connection_header_name(connection: Connection) -> str:
    return (connection.settings or {}).get("header_name") or DEFAULT_HEADER_NAME


def connection_secret_status(connection: Connection) -> dict[str, dict[str, Any]]:
    """``{field: {"set": bool, "updated_at": datetime | None}}`` — never the values."""
    fields = secret_fields(owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk)
    expected = connection_secret_keys(connection.connector, connection.auth_type)
    if connection.connector == MCP_CONNECTOR and not (connection.settings or {}).get("client_id"):
        expected = ()  # an OAuth upstream registered by CIMD or DCR has no admin secret
    return {
        field: {"set": field in fields, "updated_at": fields.get(field)}
        for field in sorted(set(expected) | set(fields))
    }


def connection_secret_keys(connector: str, auth_type: str) -> tuple[str, ...]:
    """The vault fields a connection of this kind may hold."""
    if auth_type == Connection.AuthType.OAUTH2:
        # An upstream MCP server's client secret is optional (CIMD and DCR need none).
        return ("client_secret",)
    if connector == MCP_CONNECTOR and auth_type == Connection.AuthType.SHARED_HEADER:
        return ("shared_header",)
    if connector == OPENAPI_CONNECTOR and auth_type == Connection.AuthType.SHARED_HEADER:
        return ("shared_credential",)
    return ()


def connection_openapi_tool(connection: Connection, name: str) -> dict[str, Any] | None:
    """An openapi connection's stored tool, with its request plan."""
    return next((t for t in connection.tools or [] if t.get("name") == name), None)


def connection_shared_credential(connection: Connection) -> str | None:
    return secret_get(
        owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk, field="shared_credential"
    )


def connection_upstream_headers(
    connection: Connection, *, credential: str | None = None
) -> dict[str, str]:
    """Headers for calling an upstream MCP server: the shared header from the vault, or the
    end user's key (``credential``) — as ``Bearer <key>`` in Authorization, raw otherwise."""
    header = connection_header_name(connection)
    if connection.auth_type == Connection.AuthType.SHARED_HEADER:
        value = secret_get(
            owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk, field="shared_header"
        )
        return {header: value} if value else {}
    if connection.auth_type == Connection.AuthType.OAUTH2 and credential:
        # The end user's access token, issued for this server (RFC 8707 ``resource``); only
        # ever sent to the connection's own server URL.
        return {"Authorization": f"Bearer {credential}"}
    if connection.auth_type == Connection.AuthType.API_KEY and credential:
        if header.lower() == "authorization":
            return {header: f"Bearer {credential}"}
        return {header: credential}
    return {}


def connection_redirect_uri() -> str:
    """The one OAuth redirect URI of the deployment, shown to admins configuring a client."""
    return f"{settings.PUBLIC_BASE_URL}/oauth/callback"


CLIENT_METADATA_PATH = "/oauth/client-metadata.json"


def connection_client_metadata_url() -> str:
    """vmcp's Client ID Metadata Document: its URL is vmcp's ``client_id`` at upstream
    authorization servers that support CIMD (one per deployment, like the redirect URI)."""
    return f"{settings.PUBLIC_BASE_URL}{CLIENT_METADATA_PATH}"
