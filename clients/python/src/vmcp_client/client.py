"""The synchronous client: ``Vmcp(base_url, tenant=…, api_key=…)``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import httpx

from . import _ops as ops
from ._core import (
    DEFAULT_TIMEOUT,
    RETRY_STATUSES,
    Op,
    RetryPolicy,
    api_base,
    headers,
    raise_for,
    transport_error,
)
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

T = TypeVar("T")
_UNSET: Any = object()


class Vmcp:
    """vmcp's REST API for one tenant, with an API key (``vmcp_sk_…``).

    ``connections``, ``tokens``, ``connected_accounts``, ``end_users`` and ``audit`` group the
    rest of the API; the methods on the client itself are the ones a Scalekit user knows.
    Use as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tenant: str,
        api_key: str,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http_client or httpx.Client(timeout=timeout)
        self._owns_http = http_client is None
        self._base = api_base(base_url, tenant)
        self._headers = headers(api_key)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self.connections = Connections(self)
        self.tokens = Tokens(self)
        self.connected_accounts = ConnectedAccounts(self)
        self.end_users = EndUsers(self)
        self.audit = Audit(self)

    # ------------------------------------------------------------------ plumbing

    def __enter__(self) -> Vmcp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _send(self, op: Op[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            request = self._http.build_request(
                op.method,
                self._base + op.path,
                params=op.params,
                json=op.json,
                headers=self._headers,
            )
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                wait = self._retry.wait(attempt, None) if op.idempotent else None
                if wait is None:
                    raise transport_error(exc) from exc
            else:
                if response.status_code not in RETRY_STATUSES:
                    break
                wait = self._retry.wait(attempt, response)
                if wait is None:
                    break
                response.close()
            self._sleep(wait)
            attempt += 1
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            raise_for(response)
        return response

    def _run(self, op: Op[T]) -> T:
        return op.parse(self._send(op))

    def _pages(self, make: Callable[[str | None], Op[Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            page = self._run(make(cursor))
            yield from page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    # ------------------------------------------------------------------ virtual servers

    def create_config(
        self,
        name: str,
        *,
        description: str = "",
        connection_tool_mappings: list[ToolMapping] | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> McpConfig:
        """Create a virtual MCP server exposing exactly the mapped tools (``["*"]``: all)."""
        return self._run(
            ops.create_config(name, description, connection_tool_mappings, rate_limit_per_minute)
        )

    def list_configs(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[McpConfig]:
        return self._run(ops.list_configs(limit, cursor))

    def iter_configs(self) -> Iterator[McpConfig]:
        """Every config, page after page."""
        return self._pages(lambda cursor: ops.list_configs(None, cursor))

    def get_config(self, config_id: str) -> McpConfig:
        return self._run(ops.get_config(config_id))

    def update_config(
        self,
        config_id: str,
        *,
        description: str | None = None,
        connection_tool_mappings: list[ToolMapping] | None = None,
        rate_limit_per_minute: int | None = _UNSET,
    ) -> McpConfig:
        """Change what is given; the mappings, when given, replace all of them.

        (The API's PUT needs the mappings; when they are not given, the current ones are read
        first and sent back unchanged.)
        """
        if connection_tool_mappings is None:
            connection_tool_mappings = self.get_config(config_id)["connection_tool_mappings"]
        fields: dict[str, Any] = {"connection_tool_mappings": connection_tool_mappings}
        if description is not None:
            fields["description"] = description
        if rate_limit_per_minute is not _UNSET:
            fields["rate_limit_per_minute"] = rate_limit_per_minute
        return self._run(ops.update_config(config_id, fields))

    def delete_config(self, config_id: str) -> None:
        self._run(ops.delete_config(config_id))

    def list_mcp_connected_accounts(
        self, config_id: str, identifier: str, *, include_auth_link: bool = True
    ) -> Readiness:
        """Whether ``identifier`` can use the server: each connection's account status and,
        with ``include_auth_link``, a connect link (``authentication_link``) where one is needed."""
        return self._run(ops.list_mcp_connected_accounts(config_id, identifier, include_auth_link))

    def create_session_token(
        self, config_id: str, identifier: str, *, expiry: str = "1h"
    ) -> MintedToken:
        """A short-lived bearer token for the server's MCP URL, bound to one end user.

        Raises ``MissingConnectedAccountsError`` (its ``details`` list the connect links)
        while the user lacks an account the server needs.
        """
        return self._run(ops.create_session_token(config_id, identifier, expiry))

    def execute_tool(
        self,
        tool_name: str,
        identifier: str,
        params: dict[str, Any] | None = None,
        *,
        connection_name: str | None = None,
        config_id: str | None = None,
        agent_run_id: str | None = None,
    ) -> ToolExecution:
        """Run one tool for one end user without MCP.

        With ``config_id`` the call is held to that server's tools and its per-user rate limit;
        without, any tool of the tenant's connections, under the tenant-wide per-user limit.
        """
        return self._run(
            ops.execute_tool(
                tool_name, identifier, params, connection_name, config_id, agent_run_id
            )
        )


class _Part:
    def __init__(self, client: Vmcp) -> None:
        self._client = client


class Connections(_Part):
    def connectors(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Connector]:
        return self._client._run(ops.list_connectors(limit, cursor))

    def list(
        self, *, connector: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Connection]:
        return self._client._run(ops.list_connections(connector, limit, cursor))

    def iter(self, *, connector: str | None = None) -> Iterator[Connection]:
        return self._client._pages(lambda cursor: ops.list_connections(connector, None, cursor))

    def create(
        self,
        name: str,
        *,
        connector: str,
        auth_type: str,
        settings: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> Connection:
        return self._client._run(
            ops.create_connection(name, connector, auth_type, settings, secrets)
        )

    def get(self, name: str) -> Connection:
        return self._client._run(ops.get_connection(name))

    def update(
        self,
        name: str,
        *,
        settings: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        confirm_credential_move: bool = False,
    ) -> Connection:
        """Change settings and/or secrets. A change that would send the credentials users
        stored to another host raises ``CredentialsWouldMoveError`` unless
        ``confirm_credential_move``."""
        return self._client._run(
            ops.update_connection(name, settings, secrets, confirm_credential_move)
        )

    def preview_openapi(self, name: str, settings: dict[str, Any]) -> dict[str, Any]:
        """What re-importing an openapi connection's document would change; stores nothing."""
        return self._client._run(ops.preview_openapi(name, settings))

    def delete(self, name: str) -> None:
        self._client._run(ops.delete_connection(name))

    def tools(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[dict[str, Any]]:
        return self._client._run(ops.connection_tools(name, limit, cursor))

    def sync(self, name: str) -> Connection:
        """Discover an upstream MCP server's tools now."""
        return self._client._run(ops.sync_connection(name))


class Tokens(_Part):
    def create(self, config_id: str, identifier: str, *, expiry: str = "1h") -> MintedToken:
        return self._client.create_session_token(config_id, identifier, expiry=expiry)

    def list(
        self,
        config_id: str,
        *,
        identifier: str | None = None,
        active: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[SessionToken]:
        return self._client._run(ops.list_tokens(config_id, identifier, active, limit, cursor))

    def iter(
        self, config_id: str, *, identifier: str | None = None, active: bool | None = None
    ) -> Iterator[SessionToken]:
        return self._client._pages(
            lambda cursor: ops.list_tokens(config_id, identifier, active, None, cursor)
        )

    def revoke(self, token_id: str) -> None:
        self._client._run(ops.revoke_token(token_id))

    def revoke_for_identifier(self, config_id: str, identifier: str) -> int:
        """Revoke every live token of one end user on one server; how many were revoked."""
        return self._client._run(ops.revoke_tokens_for_identifier(config_id, identifier))


class ConnectedAccounts(_Part):
    def list(
        self,
        *,
        identifier: str | None = None,
        connection_name: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ConnectedAccount]:
        return self._client._run(
            ops.list_accounts(identifier, connection_name, status, limit, cursor)
        )

    def iter(
        self,
        *,
        identifier: str | None = None,
        connection_name: str | None = None,
        status: str | None = None,
    ) -> Iterator[ConnectedAccount]:
        return self._client._pages(
            lambda cursor: ops.list_accounts(identifier, connection_name, status, None, cursor)
        )

    def create(self, connection_name: str, identifier: str) -> ConnectedAccount:
        """The account (PENDING_AUTH until the user connects) with a fresh connect link."""
        return self._client._run(ops.create_account(connection_name, identifier))

    def get(self, account_id: int) -> ConnectedAccount:
        return self._client._run(ops.get_account(account_id))

    def revoke(self, account_id: int) -> ConnectedAccount:
        return self._client._run(ops.revoke_account(account_id))

    def magic_link(self, connection_name: str, identifier: str) -> MagicLink:
        return self._client._run(ops.magic_link(connection_name, identifier))


class EndUsers(_Part):
    def revoke(self, identifier: str, *, connected_accounts: bool = False) -> EndUserRevocation:
        """End this user tenant-wide: every session token on every server, and with
        ``connected_accounts`` their connected accounts too."""
        return self._client._run(ops.end_user_revoke(identifier, connected_accounts))


class Audit(_Part):
    def get(self, event_id: int) -> AuditEvent:
        return self._client._run(ops.audit_event(event_id))

    def pages(
        self,
        *,
        identifier: str | None = None,
        tool: str | None = None,
        config: str | None = None,
        connection: str | None = None,
        outcome: str | None = None,
        event_type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
    ) -> Iterator[Page[AuditEvent]]:
        """The matching events, newest first, one page (``data``, ``next_cursor``) at a time."""
        filters = ops.audit_filters(
            identifier=identifier,
            tool=tool,
            config=config,
            connection=connection,
            outcome=outcome,
            event_type=event_type,
            since=since,
            until=until,
        )
        cursor: str | None = None
        while True:
            page = self._client._run(ops.audit_page(filters, limit, cursor))
            yield page
            cursor = page["next_cursor"]
            if not cursor:
                return

    def events(self, **filters: Any) -> Iterator[AuditEvent]:
        """Every matching event across the cursor pages (same filters as ``pages``)."""
        for page in self.pages(**filters):
            yield from page["data"]

    def export(self, *, format: str = "jsonl", **filters: Any) -> Iterator[bytes]:
        """The export streamed as it is produced (``jsonl`` or ``csv``): chunks of bytes."""
        op = ops.audit_export(ops.audit_filters(**filters), format)
        response = self._client._send(op, stream=True)
        try:
            yield from response.iter_bytes()
        finally:
            response.close()

    def export_records(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """The JSON Lines export, one parsed record at a time (never all in memory)."""
        import json

        op = ops.audit_export(ops.audit_filters(**filters), "jsonl")
        response = self._client._send(op, stream=True)
        try:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)
        finally:
            response.close()
