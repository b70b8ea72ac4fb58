"""The asynchronous client: ``AsyncVmcp(base_url, tenant=…, api_key=…)``, same methods as
``Vmcp``, awaited; the iterators are async iterators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
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


class AsyncVmcp:
    """vmcp's REST API for one tenant, with an API key (``vmcp_sk_…``), on asyncio.

    ``connections``, ``tokens``, ``connected_accounts``, ``end_users`` and ``audit`` group the
    rest of the API; the methods on the client itself are the ones a Scalekit user knows.
    Use as an async context manager, or await ``close()``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tenant: str,
        api_key: str,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
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

    async def __aenter__(self) -> AsyncVmcp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _send(self, op: Op[Any], *, stream: bool = False) -> httpx.Response:
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
                response = await self._http.send(request, stream=stream)
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
                await response.aclose()
            await self._sleep(wait)
            attempt += 1
        if response.status_code >= 400:
            if stream:
                await response.aread()
                await response.aclose()
            raise_for(response)
        return response

    async def _run(self, op: Op[T]) -> T:
        return op.parse(await self._send(op))

    async def _pages(self, make: Callable[[str | None], Op[Page[T]]]) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            page = await self._run(make(cursor))
            for item in page["data"]:
                yield item
            cursor = page["next_cursor"]
            if not cursor:
                return

    # ------------------------------------------------------------------ virtual servers

    async def create_config(
        self,
        name: str,
        *,
        description: str = "",
        connection_tool_mappings: list[ToolMapping] | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> McpConfig:
        """Create a virtual MCP server exposing exactly the mapped tools (``["*"]``: all)."""
        return await self._run(
            ops.create_config(name, description, connection_tool_mappings, rate_limit_per_minute)
        )

    async def list_configs(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[McpConfig]:
        return await self._run(ops.list_configs(limit, cursor))

    def iter_configs(self) -> AsyncIterator[McpConfig]:
        """Every config, page after page."""
        return self._pages(lambda cursor: ops.list_configs(None, cursor))

    async def get_config(self, config_id: str) -> McpConfig:
        return await self._run(ops.get_config(config_id))

    async def update_config(
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
            connection_tool_mappings = (await self.get_config(config_id))[
                "connection_tool_mappings"
            ]
        fields: dict[str, Any] = {"connection_tool_mappings": connection_tool_mappings}
        if description is not None:
            fields["description"] = description
        if rate_limit_per_minute is not _UNSET:
            fields["rate_limit_per_minute"] = rate_limit_per_minute
        return await self._run(ops.update_config(config_id, fields))

    async def delete_config(self, config_id: str) -> None:
        await self._run(ops.delete_config(config_id))

    async def list_mcp_connected_accounts(
        self, config_id: str, identifier: str, *, include_auth_link: bool = True
    ) -> Readiness:
        """Whether ``identifier`` can use the server: each connection's account status and,
        with ``include_auth_link``, a connect link (``authentication_link``) where one is needed."""
        return await self._run(
            ops.list_mcp_connected_accounts(config_id, identifier, include_auth_link)
        )

    async def create_session_token(
        self, config_id: str, identifier: str, *, expiry: str = "1h"
    ) -> MintedToken:
        """A short-lived bearer token for the server's MCP URL, bound to one end user.

        Raises ``MissingConnectedAccountsError`` (its ``details`` list the connect links)
        while the user lacks an account the server needs.
        """
        return await self._run(ops.create_session_token(config_id, identifier, expiry))

    async def execute_tool(
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
        return await self._run(
            ops.execute_tool(
                tool_name, identifier, params, connection_name, config_id, agent_run_id
            )
        )


class _Part:
    def __init__(self, client: AsyncVmcp) -> None:
        self._client = client


class Connections(_Part):
    async def connectors(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Connector]:
        return await self._client._run(ops.list_connectors(limit, cursor))

    async def list(
        self, *, connector: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Connection]:
        return await self._client._run(ops.list_connections(connector, limit, cursor))

    def iter(self, *, connector: str | None = None) -> AsyncIterator[Connection]:
        return self._client._pages(lambda cursor: ops.list_connections(connector, None, cursor))

    async def create(
        self,
        name: str,
        *,
        connector: str,
        auth_type: str,
        settings: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> Connection:
        return await self._client._run(
            ops.create_connection(name, connector, auth_type, settings, secrets)
        )

    async def get(self, name: str) -> Connection:
        return await self._client._run(ops.get_connection(name))

    async def update(
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
        return await self._client._run(
            ops.update_connection(name, settings, secrets, confirm_credential_move)
        )

    async def preview_openapi(self, name: str, settings: dict[str, Any]) -> dict[str, Any]:
        """What re-importing an openapi connection's document would change; stores nothing."""
        return await self._client._run(ops.preview_openapi(name, settings))

    async def delete(self, name: str) -> None:
        await self._client._run(ops.delete_connection(name))

    async def tools(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[dict[str, Any]]:
        return await self._client._run(ops.connection_tools(name, limit, cursor))

    async def sync(self, name: str) -> Connection:
        """Discover an upstream MCP server's tools now."""
        return await self._client._run(ops.sync_connection(name))


class Tokens(_Part):
    async def create(self, config_id: str, identifier: str, *, expiry: str = "1h") -> MintedToken:
        return await self._client.create_session_token(config_id, identifier, expiry=expiry)

    async def list(
        self,
        config_id: str,
        *,
        identifier: str | None = None,
        active: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[SessionToken]:
        return await self._client._run(
            ops.list_tokens(config_id, identifier, active, limit, cursor)
        )

    def iter(
        self, config_id: str, *, identifier: str | None = None, active: bool | None = None
    ) -> AsyncIterator[SessionToken]:
        return self._client._pages(
            lambda cursor: ops.list_tokens(config_id, identifier, active, None, cursor)
        )

    async def revoke(self, token_id: str) -> None:
        await self._client._run(ops.revoke_token(token_id))

    async def revoke_for_identifier(self, config_id: str, identifier: str) -> int:
        """Revoke every live token of one end user on one server; how many were revoked."""
        return await self._client._run(ops.revoke_tokens_for_identifier(config_id, identifier))


class ConnectedAccounts(_Part):
    async def list(
        self,
        *,
        identifier: str | None = None,
        connection_name: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ConnectedAccount]:
        return await self._client._run(
            ops.list_accounts(identifier, connection_name, status, limit, cursor)
        )

    def iter(
        self,
        *,
        identifier: str | None = None,
        connection_name: str | None = None,
        status: str | None = None,
    ) -> AsyncIterator[ConnectedAccount]:
        return self._client._pages(
            lambda cursor: ops.list_accounts(identifier, connection_name, status, None, cursor)
        )

    async def create(self, connection_name: str, identifier: str) -> ConnectedAccount:
        """The account (PENDING_AUTH until the user connects) with a fresh connect link."""
        return await self._client._run(ops.create_account(connection_name, identifier))

    async def get(self, account_id: int) -> ConnectedAccount:
        return await self._client._run(ops.get_account(account_id))

    async def revoke(self, account_id: int) -> ConnectedAccount:
        return await self._client._run(ops.revoke_account(account_id))

    async def magic_link(self, connection_name: str, identifier: str) -> MagicLink:
        return await self._client._run(ops.magic_link(connection_name, identifier))


class EndUsers(_Part):
    async def revoke(
        self, identifier: str, *, connected_accounts: bool = False
    ) -> EndUserRevocation:
        """End this user tenant-wide: every session token on every server, and with
        ``connected_accounts`` their connected accounts too."""
        return await self._client._run(ops.end_user_revoke(identifier, connected_accounts))


class Audit(_Part):
    async def get(self, event_id: int) -> AuditEvent:
        return await self._client._run(ops.audit_event(event_id))

    async def pages(
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
    ) -> AsyncIterator[Page[AuditEvent]]:
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
            page = await self._client._run(ops.audit_page(filters, limit, cursor))
            yield page
            cursor = page["next_cursor"]
            if not cursor:
                return

    async def events(self, **filters: Any) -> AsyncIterator[AuditEvent]:
        """Every matching event across the cursor pages (same filters as ``pages``)."""
        async for page in self.pages(**filters):
            for event in page["data"]:
                yield event

    async def export(self, *, format: str = "jsonl", **filters: Any) -> AsyncIterator[bytes]:
        """The export streamed as it is produced (``jsonl`` or ``csv``): chunks of bytes."""
        op = ops.audit_export(ops.audit_filters(**filters), format)
        response = await self._client._send(op, stream=True)
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()

    async def export_records(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        """The JSON Lines export, one parsed record at a time (never all in memory)."""
        import json

        op = ops.audit_export(ops.audit_filters(**filters), "jsonl")
        response = await self._client._send(op, stream=True)
        try:
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)
        finally:
            await response.aclose()
