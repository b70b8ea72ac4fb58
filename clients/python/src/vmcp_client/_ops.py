"""Every API call as an ``Op``: written once, sent by the sync and the async client."""

from __future__ import annotations

from typing import Any, cast

import httpx

from ._core import Op, _nothing, body, query, seg
from .models import (
    AuditEvent,
    ConnectedAccount,
    Connection,
    Connector,
    EndUserRevocation,
    MagicLink,
    McpConfig,
    MintedToken,
    Page,
    Readiness,
    SessionToken,
    ToolExecution,
    ToolMapping,
)

# ------------------------------------------------------------------ virtual servers (configs)


def create_config(
    name: str,
    description: str,
    connection_tool_mappings: list[ToolMapping] | None,
    rate_limit_per_minute: int | None,
) -> Op[McpConfig]:
    return Op(
        "POST",
        "mcp/configs",
        json=body(
            name=name,
            description=description,
            connection_tool_mappings=connection_tool_mappings or [],
            rate_limit_per_minute=rate_limit_per_minute,
        ),
    )


def list_configs(limit: int | None, cursor: str | None) -> Op[Page[McpConfig]]:
    return Op("GET", "mcp/configs", params=query(limit=limit, cursor=cursor))


def get_config(config_id: str) -> Op[McpConfig]:
    return Op("GET", f"mcp/configs/{seg(config_id)}")


def update_config(config_id: str, fields: dict[str, Any]) -> Op[McpConfig]:
    return Op("PUT", f"mcp/configs/{seg(config_id)}", json=fields)


def delete_config(config_id: str) -> Op[None]:
    return Op("DELETE", f"mcp/configs/{seg(config_id)}", parse=_nothing)


def list_mcp_connected_accounts(
    config_id: str, identifier: str, include_auth_link: bool
) -> Op[Readiness]:
    return Op(
        "POST",
        f"mcp/configs/{seg(config_id)}/connected_accounts",
        json={"identifier": identifier, "include_auth_link": include_auth_link},
    )


# ------------------------------------------------------------------ session tokens


def create_session_token(config_id: str, identifier: str, expiry: str) -> Op[MintedToken]:
    return Op(
        "POST",
        f"mcp/configs/{seg(config_id)}/tokens",
        json={"identifier": identifier, "expiry": expiry},
    )


def list_tokens(
    config_id: str,
    identifier: str | None,
    active: bool | None,
    limit: int | None,
    cursor: str | None,
) -> Op[Page[SessionToken]]:
    return Op(
        "GET",
        f"mcp/configs/{seg(config_id)}/tokens",
        params=query(identifier=identifier, active=active, limit=limit, cursor=cursor),
    )


def revoke_token(token_id: str) -> Op[None]:
    return Op("DELETE", f"mcp/tokens/{seg(token_id)}", parse=_nothing)


def _revoked(response: httpx.Response) -> int:
    return int(response.json()["revoked"])


def revoke_tokens_for_identifier(config_id: str, identifier: str) -> Op[int]:
    return Op(
        "POST",
        f"mcp/configs/{seg(config_id)}/tokens/revoke",
        json={"identifier": identifier},
        parse=_revoked,
    )


def end_user_revoke(identifier: str, connected_accounts: bool) -> Op[EndUserRevocation]:
    return Op(
        "POST",
        "end_users/revoke",
        json={"identifier": identifier, "connected_accounts": connected_accounts},
    )


# ------------------------------------------------------------------ tools


def execute_tool(
    tool_name: str,
    identifier: str,
    params: dict[str, Any] | None,
    connection_name: str | None,
    config_id: str | None,
    agent_run_id: str | None,
) -> Op[ToolExecution]:
    return Op(
        "POST",
        "execute_tool",
        json=body(
            tool_name=tool_name,
            identifier=identifier,
            params=params or {},
            connection_name=connection_name,
            config_id=config_id,
            agent_run_id=agent_run_id,
        ),
    )


# ------------------------------------------------------------------ connections


def list_connectors(limit: int | None, cursor: str | None) -> Op[Page[Connector]]:
    return Op("GET", "connectors", params=query(limit=limit, cursor=cursor))


def list_connections(
    connector: str | None, limit: int | None, cursor: str | None
) -> Op[Page[Connection]]:
    return Op("GET", "connections", params=query(connector=connector, limit=limit, cursor=cursor))


def create_connection(
    name: str,
    connector: str,
    auth_type: str,
    settings: dict[str, Any] | None,
    secrets: dict[str, str] | None,
) -> Op[Connection]:
    return Op(
        "POST",
        "connections",
        json=body(
            name=name, connector=connector, auth_type=auth_type, settings=settings, secrets=secrets
        ),
    )


def get_connection(name: str) -> Op[Connection]:
    return Op("GET", f"connections/{seg(name)}")


def update_connection(
    name: str,
    settings: dict[str, Any] | None,
    secrets: dict[str, str] | None,
    confirm_credential_move: bool = False,
) -> Op[Connection]:
    return Op(
        "PATCH",
        f"connections/{seg(name)}",
        json=body(
            settings=settings,
            secrets=secrets,
            confirm_credential_move=True if confirm_credential_move else None,
        ),
    )


def preview_openapi(name: str, settings: dict[str, Any]) -> Op[dict[str, Any]]:
    return Op("POST", f"connections/{seg(name)}/openapi/preview", json={"settings": settings})


def delete_connection(name: str) -> Op[None]:
    return Op("DELETE", f"connections/{seg(name)}", parse=_nothing)


def connection_tools(name: str, limit: int | None, cursor: str | None) -> Op[Page[dict[str, Any]]]:
    return Op("GET", f"connections/{seg(name)}/tools", params=query(limit=limit, cursor=cursor))


def sync_connection(name: str) -> Op[Connection]:
    return Op("POST", f"connections/{seg(name)}/sync")


# ------------------------------------------------------------------ connected accounts


def list_accounts(
    identifier: str | None,
    connection_name: str | None,
    status: str | None,
    limit: int | None,
    cursor: str | None,
) -> Op[Page[ConnectedAccount]]:
    return Op(
        "GET",
        "connected_accounts",
        params=query(
            identifier=identifier,
            connection_name=connection_name,
            status=status,
            limit=limit,
            cursor=cursor,
        ),
    )


def create_account(connection_name: str, identifier: str) -> Op[ConnectedAccount]:
    return Op(
        "POST",
        "connected_accounts",
        json={"connection_name": connection_name, "identifier": identifier},
    )


def get_account(account_id: int) -> Op[ConnectedAccount]:
    return Op("GET", f"connected_accounts/{int(account_id)}")


def revoke_account(account_id: int) -> Op[ConnectedAccount]:
    return Op("DELETE", f"connected_accounts/{int(account_id)}")


def magic_link(connection_name: str, identifier: str) -> Op[MagicLink]:
    return Op(
        "POST",
        "connected_accounts/magic_link",
        json={"connection_name": connection_name, "identifier": identifier},
    )


# ------------------------------------------------------------------ audit


def audit_page(
    filters: dict[str, Any], limit: int | None, cursor: str | None
) -> Op[Page[AuditEvent]]:
    return Op("GET", "audit/events", params=query(**filters, limit=limit, cursor=cursor))


def audit_event(event_id: int) -> Op[AuditEvent]:
    return Op("GET", f"audit/events/{int(event_id)}")


def audit_export(filters: dict[str, Any], format: str) -> Op[None]:
    return Op("GET", "audit/events/export", params=query(**filters, format=format), parse=_nothing)


def audit_filters(**values: Any) -> dict[str, Any]:
    """The audit filters as query values (datetimes as ISO 8601)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = value.isoformat() if hasattr(value, "isoformat") else value
    return cast(dict[str, Any], out)
