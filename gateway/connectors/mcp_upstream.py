"""The upstream-MCP connector: a tenant's own MCP server, reached over Streamable HTTP.

Uses the official ``mcp`` SDK client. Every call is bounded in time and in response size, and
every TCP connection it opens goes through the SSRF guard (``configs.ssrf``): the host is
resolved, each address checked, and the checked address connected to. Content blocks,
structured content and ``isError`` pass through unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
from django.conf import settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import Implementation

from configs.ssrf import (
    UnsafeUrl,
    guarded_httpx2_transport,
    is_host_allowed,
    parse_http_url,
    resolve_checked,
)
from gateway.connectors.base import ToolResult
from vmcp_platform.errors import ProviderError

ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TOOL_PAGES = 50
MAX_TOOLS = 2000


def _max_response_bytes() -> int:
    return int(getattr(settings, "VMCP_UPSTREAM_MAX_RESPONSE_BYTES", 8 * 1024 * 1024))


class _TooLarge(httpx2.ReadError):
    pass


class _LimitedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, guard: _SizeGuard) -> None:
        self._inner = inner
        self._guard = guard

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._inner:
            received += len(chunk)
            if received > self._guard.limit:
                self._guard.exceeded = True
                raise _TooLarge(f"response exceeded {self._guard.limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _SizeGuard(httpx2.AsyncBaseTransport):
    """Caps every response body; remembers when it had to cut one off."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self.limit = limit
        self.exceeded = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_LimitedStream(response.stream, self),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _leaf_exceptions(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaf_exceptions(inner)]
    return [exc]


def _provider_error(exc: BaseException, *, guard: _SizeGuard, timeout: float) -> ProviderError:
    """Translate what the SDK or the transport raised; messages never carry headers."""
    if guard.exceeded:
        return ProviderError(f"the upstream MCP server's response exceeded {guard.limit} bytes")
    leaves = _leaf_exceptions(exc)
    for leaf in leaves:
        if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
            return ProviderError(f"the upstream MCP server did not answer within {timeout:g}s")
    for leaf in leaves:
        if isinstance(leaf, httpx2.HTTPStatusError):
            status = leaf.response.status_code
            hint = {401: "rejected the credential", 403: "refused access"}.get(
                status, f"answered HTTP {status}"
            )
            return ProviderError(f"the upstream MCP server {hint}", provider_status=status)
        if isinstance(leaf, MCPError):
            return ProviderError(
                f"the upstream MCP server returned an error: {leaf.error.message}"[:500]
            )
        if isinstance(leaf, httpx2.ConnectError):
            return ProviderError(f"could not reach the upstream MCP server: {leaf}"[:500])
        if isinstance(leaf, httpx2.HTTPError):
            return ProviderError(
                f"the upstream MCP server connection failed: {type(leaf).__name__}"
            )
    return ProviderError(f"the upstream MCP server call failed: {type(leaves[0]).__name__}")


@asynccontextmanager
async def _session(
    server_url: str, headers: dict[str, str], timeout: float
) -> AsyncIterator[tuple[Client, _SizeGuard]]:
    try:
        _, host, port = parse_http_url(server_url, field="server_url")
        if not is_host_allowed(host):
            # Fail early with a clear message; the transport checks again on every connection.
            await resolve_checked(host, port)
    except UnsafeUrl as exc:
        raise ProviderError(f"refused to call the upstream MCP server: {exc.message}") from None
    guard = _SizeGuard(guarded_httpx2_transport(), _max_response_bytes())
    http = httpx2.AsyncClient(
        headers=headers,
        transport=guard,
        timeout=httpx2.Timeout(timeout),
        follow_redirects=False,
    )
    try:
        async with http:
            with anyio.fail_after(timeout):
                client = Client(
                    streamable_http_client(server_url, http_client=http),
                    client_info=Implementation(name="vmcp", version="1.0.0"),
                    read_timeout_seconds=timeout,
                    cache=None,
                )
                async with client:
                    yield client, guard
    except ProviderError:
        raise
    except Exception as exc:  # the SDK raises groups of transport errors
        raise _provider_error(exc, guard=guard, timeout=timeout) from None


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


async def call_tool(
    *,
    server_url: str,
    headers: dict[str, str],
    name: str,
    arguments: dict[str, Any],
    progress_callback: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ToolResult:
    """Call one tool; the server's result (including ``isError``) passes through unchanged."""
    async with _session(server_url, headers, timeout) as (client, _):
        result = await client.call_tool(
            name,
            arguments,
            read_timeout_seconds=timeout,
            progress_callback=progress_callback,
        )
    return ToolResult(
        content=[
            block.model_dump(by_alias=True, exclude_none=True, mode="json")
            for block in result.content
        ],
        structured=result.structured_content,
        is_error=bool(result.is_error),
    )
