"""The upstream-MCP connector: a tenant's own MCP server, reached over Streamable HTTP.

Uses the official ``mcp`` SDK client. Every call is bounded in time and in response size, and
every TCP connection it opens goes through the SSRF guard (``vmcp_platform.egress``): the host is
resolved, each address checked, and the checked address connected to. Content blocks,
structured content and ``isError`` pass through unchanged.

Per-call cost is kept low without sharing any per-call state: the guarded transport (and so the
TCP connection pool and the TLS context, whose creation alone cost ~40 ms) is one per event loop
and reused by every call; the era each server speaks (its ``server/discover`` result, or "legacy")
is remembered for a short while so a call does not probe it again. The SSRF check before each
call, the per-call size guard and the per-call headers are unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation, InputRequiredResult

from connectors import mcp_direct, mcp_pool
from connectors.base import ToolResult
from connectors.mcp_common import eras, known_era, provider_error, remember_era
from connectors.mcp_relay import Relay, client_options, current, routed_options
from vmcp_platform.egress import upstream as egress
from vmcp_platform.egress.ssrf import UnsafeUrl, is_host_allowed, parse_http_url, resolve_checked
from vmcp_platform.egress.upstream import SizeGuard
from vmcp_platform.errors import ProviderError

ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]
LogCallback = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TOOL_PAGES = 50
MAX_TOOLS = 2000


def forget_servers() -> None:
    """Forget remembered eras and pooled connections (tests; an upstream that was replaced)."""
    mcp_pool.forget()
    eras.clear()
    egress.forget_transports()


async def _precheck(server_url: str) -> None:
    """The SSRF check before every call (pooled or not)."""
    try:
        _, host, port = parse_http_url(server_url, field="server_url")
        if not is_host_allowed(host):
            # Fail early with a clear message; the transport checks again on every connection.
            await resolve_checked(host, port, field="server_url")
    except UnsafeUrl as exc:
        raise ProviderError(f"refused to call the upstream MCP server: {exc.message}") from None


@asynccontextmanager
async def _session(
    server_url: str,
    headers: dict[str, str],
    timeout: float,
    client_options: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Client, SizeGuard]]:
    await _precheck(server_url)
    http, guard = egress.upstream_client(headers=headers, timeout=timeout)
    known = known_era(server_url)
    try:
        async with http:
            with anyio.fail_after(timeout):
                client = Client(
                    streamable_http_client(server_url, http_client=http),
                    client_info=Implementation(name="vmcp", version="1.0.0"),
                    read_timeout_seconds=timeout,
                    cache=None,
                    **known,
                    **(client_options or {}),
                )
                async with client:
                    if not known:
                        remember_era(server_url, client)
                    yield client, guard
    except ProviderError:
        eras.pop(server_url, None)
        raise
    except Exception as exc:  # the SDK raises groups of transport errors
        # Whatever went wrong, the next call negotiates afresh (the server may have changed).
        eras.pop(server_url, None)
        raise provider_error(exc, guard=guard, timeout=timeout) from None


async def list_tools(
    *, server_url: str, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> list[dict[str, Any]]:
    """Every tool the server lists (all pages), as MCP tool objects (camelCase keys)."""
    tools: list[dict[str, Any]] = []
    async with _session(server_url, headers, timeout) as (client, _):
        cursor: str | None = None
        for _page in range(MAX_TOOL_PAGES):
            page = await client.list_tools(cursor=cursor)
            tools.extend(
                tool.model_dump(by_alias=True, exclude_none=True, mode="json")
                for tool in page.tools
            )
            cursor = page.next_cursor
            if not cursor or len(tools) >= MAX_TOOLS:
                break
    return tools[:MAX_TOOLS]


def _poolable(server_url: str, relay: Relay | None) -> bool:
    """A relayed call may share a pooled session only with an upstream known to be 2026-07-28.

    There the upstream's requests arrive as an ``InputRequiredResult`` inside the call, so the
    pooled session's callbacks can tell whose call asked (``mcp_relay.routed_options``); a
    handshake-era (or not yet probed) upstream gets a session for this call alone.
    """
    if relay is None:
        return True
    known = known_era(server_url)
    return bool(known) and known.get("mode") != "legacy"


def _log_relay(callback: LogCallback) -> Callable[[Any], Awaitable[None]]:
    """Adapts the SDK's ``LoggingMessageNotificationParams`` to the MCP wire dict."""

    async def relay(params: Any) -> None:
        await callback(params.model_dump(by_alias=True, exclude_none=True, mode="json"))

    return relay


async def call_tool(
    *,
    server_url: str,
    headers: dict[str, str],
    name: str,
    arguments: dict[str, Any],
    progress_callback: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    log_callback: LogCallback | None = None,
    session_scope: str | None = None,
    relay: Relay | None = None,
    tool: dict[str, Any] | None = None,
) -> ToolResult:
    """Call one tool; the server's result (including ``isError``) passes through unchanged.

    ``log_callback`` receives the upstream's ``notifications/message`` params (``level``,
    ``logger``, ``data``) for this call. 2026-07-28 servers only log for requests that opt in,
    so the call opts in at "debug" and the callback filters by the agent's own level;
    handshake-era servers log unconditionally.

    ``relay`` (see ``mcp_relay``): the upstream may ask the agent's client for sampling,
    elicitation or roots during the call; on the 2026-07-28 wire an upstream
    ``InputRequiredResult`` comes back as ``ToolResult.input_required``.

    ``tool`` (its catalogue definition) lets a plain call on the 2026-07-28 wire skip the SDK
    session: one JSON-RPC POST (``mcp_direct``), same SSRF check, bounds and error messages.
    A call that relays progress, logs or the upstream's requests keeps the SDK session, whose
    callbacks do that work.
    """
    if (
        progress_callback is None
        and log_callback is None
        and relay is None
        and mcp_direct.eligible(server_url, tool)
    ):
        assert tool is not None
        await _precheck(server_url)
        raw = await mcp_direct.call_tool(
            server_url=server_url,
            headers=headers,
            name=name,
            arguments=arguments,
            tool=tool,
            timeout=timeout,
        )
        return _raw_tool_result(raw)

    async def invoke(client: Client) -> Any:
        if relay is not None and relay.rounds:
            return await client.session.call_tool(
                name,
                arguments,
                read_timeout_seconds=timeout,
                progress_callback=progress_callback,
                input_responses=relay.input_responses,
                request_state=relay.request_state,
                allow_input_required=True,
            )
        # On 2025-11-25 the SDK answers an InputRequiredResult itself, through the callbacks.
        return await client.call_tool(
            name, arguments, read_timeout_seconds=timeout, progress_callback=progress_callback
        )

    if log_callback is None and session_scope is not None and _poolable(server_url, relay):
        # The execution path: a persistent session (see ``mcp_pool``) that only calls of the
        # same ``session_scope`` (tenant, connection, end user) share; same checks and bounds.
        # A relayed call's session also declares that agent's capabilities, so it is scoped
        # by them too, and its callbacks answer for the call in whose context they run.
        await _precheck(server_url)
        scope, options = session_scope, None
        if relay is not None:
            scope = f"{session_scope}|relay:{','.join(sorted(relay.capabilities))}"
            options = routed_options(relay.capabilities)
        with current(relay):
            result = await mcp_pool.call(
                scope=scope,
                server_url=server_url,
                headers=headers,
                name=name,
                arguments=arguments,
                progress_callback=progress_callback,
                timeout=timeout,
                client_options=options,
                invoke=invoke if relay is not None else None,
            )
    else:
        # A session of its own for this call (log relaying and the relay's callbacks are
        # per-session; a relayed session declares the agent's capabilities, no one else's).
        options = client_options(relay) if relay is not None else {}
        if log_callback is not None:
            options |= {"logging_callback": _log_relay(log_callback), "log_level": "debug"}
        async with _session(server_url, headers, timeout, options) as (client, _):
            result = await invoke(client)
    if isinstance(result, InputRequiredResult):
        return ToolResult(
            content=[],
            input_required=result.model_dump(by_alias=True, exclude_none=True, mode="json"),
        )
    return ToolResult(
        content=[
            block.model_dump(by_alias=True, exclude_none=True, mode="json")
            for block in result.content
        ],
        structured=result.structured_content,
        is_error=bool(result.is_error),
    )


@asynccontextmanager
async def client_session(
    *, server_url: str, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> AsyncIterator[Client]:
    """One SDK client session (SSRF-checked, bounded, errors as ``ProviderError``) for a caller
    that lists and calls on the same session: a 2026-07-28 client mirrors ``x-mcp-header``
    arguments into ``Mcp-Param-*`` headers only for tools it listed on that session
    (``manage.py mcp_client_check``)."""
    async with _session(server_url, headers, timeout) as (client, _):
        yield client


def _raw_tool_result(raw: dict[str, Any]) -> ToolResult:
    """A plain call's wire result as a ``ToolResult``; blocks and structured content unchanged."""
    if raw.get("resultType", "complete") != "complete":
        # What the SDK session does with it too (it does not relay input requests).
        raise ProviderError("the upstream MCP server asked for input, which is not relayed")
    content = raw.get("content", [])
    structured = raw.get("structuredContent")
    if (
        not isinstance(content, list)
        or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content)
        or not (structured is None or isinstance(structured, dict))
    ):
        raise ProviderError("the upstream MCP server returned a malformed tools/call result")
    return ToolResult(content=content, structured=structured, is_error=bool(raw.get("isError")))
