"""Validation of a connection's kind, settings and secrets against its connector.

Messages name the offending key but never echo a secret's value.
"""

from __future__ import annotations

from typing import Any

from configs.models import Connection
from configs.selectors import MCP_CONNECTOR, connection_secret_keys
from connectors import get_connector
from connectors.openapi import OPENAPI_CONNECTOR
from vmcp_platform.egress import check_url
from vmcp_platform.egress.headers import TRANSPORT_HEADERS

from .openapi import openapi_validate_stored
from .rules import HEADER_NAME_RE, invalid, validate_scopes

A = Connection.AuthType
MCP_AUTH_TYPES = frozenset({A.NONE, A.SHARED_HEADER, A.API_KEY, A.OAUTH2})
OAUTH_SETTINGS = frozenset({"client_id", "scopes", "authorize_url", "token_url", "revoke_url"})
MCP_SETTINGS = frozenset({"server_url", "header_name"})
# An OAuth-protected upstream: a pre-registered client (optional: CIMD or DCR otherwise), the
# scopes to ask for (optional: the server's challenge or scopes_supported otherwise).
MCP_OAUTH_SETTINGS = frozenset({"server_url", "client_id", "scopes", "token_endpoint_auth_method"})
TOKEN_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
# Overridable provider endpoints. Decision (issue 11): a tenant admin may point a built-in
# connector at another host (GitHub Enterprise Server, a regional or self-hosted API is a real
# need), but an override is treated like any other outbound URL: resolved and checked when saved
# (``check_url``), checked again at every connection by the egress clients, and shown as such on
# the dashboard's connection page. It carries the users' credentials, so only public addresses
# (or hosts the operator lists in VMCP_SSRF_ALLOWED_HOSTS) are accepted.
PROVIDER_URL_KEYS = ("api_base_url", "authorize_url", "token_url", "revoke_url")
# Headers the transport itself owns; letting a tenant set them would break or smuggle requests.
RESERVED_HEADERS = TRANSPORT_HEADERS | {
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "cookie",
}
MAX_SECRET_CHARS = 8192


def allowed_auth_types(connector: str) -> frozenset[str]:
    """Auth types a connection of ``connector`` may use (empty: unknown connector)."""
    if connector == MCP_CONNECTOR:
        return MCP_AUTH_TYPES
    if connector == OPENAPI_CONNECTOR:
        # Per user (a key each, or an OAuth grant from the document's authorization-code flow,
        # in the vault) or one shared credential per connection.
        return frozenset({A.NONE, A.API_KEY, A.SHARED_HEADER, A.OAUTH2})
    spec = get_connector(connector)
    if spec is None:
        return frozenset()
    if spec.auth_kind == "oauth2":
        # An OAuth provider can also take a personal token (a GitHub PAT, a Slack user token).
        return frozenset({A.OAUTH2, A.API_KEY})
    return frozenset({spec.auth_kind})


def validate_kind(connector: str, auth_type: str) -> None:
    known = connector in (MCP_CONNECTOR, OPENAPI_CONNECTOR) or get_connector(connector)
    if not known:
        raise invalid(f"Unknown connector {connector!r}.", connector=connector)
    allowed = allowed_auth_types(connector)
    if auth_type not in allowed:
        raise invalid(
            f"The {connector} connector supports auth_type {', '.join(sorted(allowed))}.",
            auth_type=auth_type,
        )


def validate_settings(connector: str, auth_type: str, settings: Any) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise invalid("settings must be an object.")
    if connector == OPENAPI_CONNECTOR:
        return openapi_validate_stored(settings, auth_type)
    if connector == MCP_CONNECTOR and auth_type == A.OAUTH2:
        return _validate_mcp_oauth(settings)
    if connector == MCP_CONNECTOR:
        allowed = MCP_SETTINGS
    else:
        allowed = {"api_base_url"} | (OAUTH_SETTINGS if auth_type == A.OAUTH2 else set())
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise invalid(
            f"Unknown settings for a {connector} connection with auth_type {auth_type}: "
            f"{', '.join(unknown)}. Allowed: {', '.join(sorted(allowed))}.",
            unknown=unknown,
        )
    clean: dict[str, Any] = {}
    for key in PROVIDER_URL_KEYS:
        if key in settings:
            # Resolved now for a clear field error; the egress clients check again on connect.
            check_url(settings[key], field=key)
            clean[key] = settings[key]
    if auth_type == A.OAUTH2:
        client_id = settings.get("client_id")
        if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 500:
            raise invalid("An oauth2 connection needs settings.client_id.", field="client_id")
        clean["client_id"] = client_id.strip()
        if "scopes" in settings:
            clean["scopes"] = validate_scopes(settings["scopes"])
    if connector == MCP_CONNECTOR:
        if "server_url" not in settings:
            raise invalid("An mcp connection needs settings.server_url.", field="server_url")
        check_url(settings["server_url"], field="server_url")
        clean["server_url"] = settings["server_url"]
        if "header_name" in settings:
            clean["header_name"] = _validate_header_name(settings["header_name"])
    return clean


def _validate_mcp_oauth(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - MCP_OAUTH_SETTINGS)
    if unknown:
        raise invalid(
            f"Unknown settings for an mcp connection with auth_type oauth2: {', '.join(unknown)}."
            f" Allowed: {', '.join(sorted(MCP_OAUTH_SETTINGS))}.",
            unknown=unknown,
        )
    if "server_url" not in settings:
        raise invalid("An mcp connection needs settings.server_url.", field="server_url")
    check_url(settings["server_url"], field="server_url")
    clean: dict[str, Any] = {"server_url": settings["server_url"]}
    if "client_id" in settings:
        client_id = settings["client_id"]
        if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 500:
            raise invalid(
                "settings.client_id must be a non-empty string of at most 500 characters"
                " (leave it out to use a client ID metadata document or dynamic registration).",
                field="client_id",
            )
        clean["client_id"] = client_id.strip()
    if "scopes" in settings:
        clean["scopes"] = validate_scopes(settings["scopes"])
    if "token_endpoint_auth_method" in settings:
        method = settings["token_endpoint_auth_method"]
        if method not in TOKEN_AUTH_METHODS:
            raise invalid(
                f"token_endpoint_auth_method must be one of {', '.join(TOKEN_AUTH_METHODS)}.",
                field="token_endpoint_auth_method",
            )
        if "client_id" not in clean:
            raise invalid(
                "token_endpoint_auth_method applies to a pre-registered client_id only.",
                field="token_endpoint_auth_method",
            )
        clean["token_endpoint_auth_method"] = method
    return clean


def _validate_header_name(name: Any) -> str:
    if not isinstance(name, str) or not HEADER_NAME_RE.match(name):
        raise invalid("header_name must be a valid HTTP header name.", field="header_name")
    if name.lower() in RESERVED_HEADERS:
        raise invalid(f"header_name {name!r} is reserved.", field="header_name")
    return name


def validate_secrets(connector: str, auth_type: str, secrets: Any) -> dict[str, str]:
    if secrets is None:
        return {}
    if not isinstance(secrets, dict):
        raise invalid("secrets must be an object of strings.")
    allowed = connection_secret_keys(connector, auth_type)
    unknown = sorted(set(secrets) - set(allowed))
    if unknown:
        raise invalid(
            f"Unknown secrets for this connection: {', '.join(unknown)}."
            + (f" Allowed: {', '.join(allowed)}." if allowed else " It takes no secrets."),
            unknown=unknown,
        )
    for key, value in secrets.items():
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_SECRET_CHARS:
            raise invalid(f"secrets.{key} must be a non-empty string.", field=key)
        if key in ("shared_header", "shared_credential") and ("\r" in value or "\n" in value):
            raise invalid("secrets.shared_header must be a single line.", field=key)
    return dict(secrets)


def require_secrets(connection: Connection, present: set[str]) -> None:
    if connection.connector == MCP_CONNECTOR and connection.auth_type == A.OAUTH2:
        # Optional, but only beside the pre-registered client it belongs to.
        if "client_secret" in present and not (connection.settings or {}).get("client_id"):
            raise invalid(
                "secrets.client_secret belongs to a pre-registered settings.client_id.",
                field="client_secret",
            )
        return
    missing = [k for k in connection_secret_keys(connection.connector, connection.auth_type)]
    missing = [k for k in missing if k not in present]
    if missing:
        raise invalid(
            f"This connection needs secrets.{missing[0]}.", field=missing[0], missing=missing
        )
