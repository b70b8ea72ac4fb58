"""The API's representations, as TypedDicts: plain JSON-shaped dicts a type checker knows.

Field names are the API's (see ``/api/v1/schema/``); datetimes are ISO 8601 strings.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

T = TypeVar("T")

AccountStatus = Literal[
    "PENDING_AUTH", "ACTIVE", "EXPIRED", "REVOKED", "ERROR", "NOT_CONNECTED", "NOT_REQUIRED"
]


class ToolMapping(TypedDict):
    connection_name: str
    tools: list[str]  # ["*"] for every tool of the connection, including future ones
    overrides: NotRequired[dict[str, dict[str, str]]]
    # Per original tool name: calls per minute per end user, e.g. {"gmail_send_email": 10}.
    tool_rate_limits: NotRequired[dict[str, int]]


class McpConfig(TypedDict):
    id: str
    name: str
    description: str
    connection_tool_mappings: list[ToolMapping]
    rate_limit_per_minute: int | None
    tool_count: int
    mcp_server_url: str
    created_at: str
    updated_at: str


class Connection(TypedDict):
    name: str
    connector: str
    auth_type: str
    settings: dict[str, Any]
    secrets: dict[str, dict[str, Any]]
    redirect_uri: str | None
    tools_synced_at: str | None
    tools_changes: dict[str, Any]
    last_error: str
    created_at: str
    updated_at: str


class Connector(TypedDict):
    slug: str
    name: str
    description: str
    auth_kind: str
    auth_types: list[str]
    api_base_url: str | None
    default_scopes: list[str]
    tools_count: int


class ConnectedAccount(TypedDict):
    id: int
    connection_name: str
    connector: str
    identifier: str
    status: AccountStatus
    connected_account_status: AccountStatus
    scopes: list[str]
    token_expires_at: str | None
    last_error: str
    created_at: str
    updated_at: str
    connected_at: str | None
    authorization_url: NotRequired[str]
    authorization_url_expires_at: NotRequired[str]
    authentication_link: NotRequired[str]


class MagicLink(TypedDict):
    link: str
    expires_at: str


class ConnectionReadiness(TypedDict):
    connection_name: str
    connector: str
    status: AccountStatus
    connected_account_status: AccountStatus
    authentication_link: str | None
    authorization_url: NotRequired[str]
    expires_at: NotRequired[str | None]


class Readiness(TypedDict):
    """``list_mcp_connected_accounts``: is this user ready to use the server?"""

    identifier: str
    ready: bool
    connections: list[ConnectionReadiness]


class SessionToken(TypedDict):
    id: str
    identifier: str
    prefix: str
    created_at: str
    created_by: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None
    active: bool


class MintedToken(TypedDict):
    """A new session token: ``token`` is shown only here."""

    id: str
    token: str
    expires_at: str
    mcp_server_url: str
    identifier: str


class ToolExecution(TypedDict):
    data: Any
    execution_id: str
    is_error: bool
    content: list[dict[str, Any]]


class AuditEvent(TypedDict):
    id: int
    occurred_at: str
    event_type: str
    outcome: str
    error_code: str
    actor: str
    identifier: str
    session_token_id: str | None
    config_id: str | None
    connection_name: str
    account_id: int | None
    tool_name: str
    latency_ms: int | None
    request_id: str
    agent_run_id: str
    extra: dict[str, Any]


class EndUserRevocation(TypedDict):
    identifier: str
    revoked_tokens: int
    servers: int  # how many virtual servers those tokens were for
    revoked_accounts: int


class Page(TypedDict, Generic[T]):
    data: list[T]
    next_cursor: str | None
