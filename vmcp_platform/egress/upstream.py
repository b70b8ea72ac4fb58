"""The httpx2 client the ``mcp`` SDK uses for upstream MCP servers (tool calls and discovery).

The guarded transport (and so the TCP connection pool and the TLS context, whose creation alone
costs ~40 ms) is one per event loop and shared by every call; each call gets its own client with
its own headers and its own ``SizeGuard`` over that transport, which caps every response body
and remembers when it had to cut one off (so the caller can say why the call failed).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Mapping

import httpx2
from django.conf import settings

from vmcp_platform.observability import tracing

from . import http1
from .backends import guarded_httpx2_transport
from .clients import ask_uncompressed, is_compressed

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
POOL_LIMITS = {"max_connections": 200, "max_keepalive_connections": 50}


def max_response_bytes() -> int:
    return int(getattr(settings, "VMCP_UPSTREAM_MAX_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES))


class _TooLarge(httpx2.ReadError):
    pass


class _LimitedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, guard: SizeGuard) -> None:
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


class SizeGuard(httpx2.AsyncBaseTransport):
    """Caps every response body; one per client, over the loop's shared guarded transport,
    which it does not close."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self.limit = limit
        self.exceeded = False
        self.compressed = False
        # The last 401/403 and its challenge: the SDK turns an HTTP refusal of a request on an
        # open session into a bare JSON-RPC error, and the caller needs to know it was the
        # credential (an expired account, an OAuth step-up) and what the server asked for.
        self.auth_status: int | None = None
        self.challenge = ""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        ask_uncompressed(request.headers)
        tracing.inject_upstream(request)  # the call's traceparent (a no-op when tracing is off)
        response = await self._inner.handle_async_request(request)
        if response.status_code in (401, 403):
            self.auth_status = response.status_code
            self.challenge = response.headers.get("www-authenticate", "")[:4000]
        if is_compressed(response.headers):
            # Counted bytes are compressed ones and the client inflates after the guard: refuse.
            await response.aclose()
            self.compressed = True
            raise _TooLarge("a compressed response was refused (identity was asked)")
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_LimitedStream(response.stream, self),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        pass  # the shared transport belongs to the loop, not to this client


_transports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncBaseTransport] = (
    weakref.WeakKeyDictionary()
)


def shared_transport() -> httpx2.AsyncBaseTransport:
    """This loop's guarded httpx2 transport."""
    loop = asyncio.get_running_loop()
    transport = _transports.get(loop)
    if transport is None:
        transport = guarded_httpx2_transport(limits=httpx2.Limits(**POOL_LIMITS))
        _transports[loop] = transport
    return transport


def forget_transports() -> None:
    _transports.clear()
    http1.forget()


def upstream_client(
    *, headers: Mapping[str, str], timeout: float, limit: int | None = None
) -> tuple[httpx2.AsyncClient, SizeGuard]:
    """A client for one upstream session or call, and its size guard."""
    guard = SizeGuard(shared_transport(), max_response_bytes() if limit is None else limit)
    client = httpx2.AsyncClient(
        headers=dict(headers),
        transport=guard,
        # Never let proxy variables in the environment put a proxy between us and the guard.
        trust_env=False,
        timeout=httpx2.Timeout(timeout),
        follow_redirects=False,
    )
    return client, guard


async def upstream_post(
    url: str, *, headers: Mapping[str, str], content: bytes, timeout: float
) -> tuple[http1.Response, http1.Guard]:
    """One POST to an upstream MCP server on this loop's pooled HTTP/1.1 connections.

    For ``connectors.mcp_rpc`` (a plain JSON-RPC call costs a fraction of httpx2's per-request
    work there): the same guarantees as ``upstream_client`` (SSRF check at connect time,
    identity encoding asked and compressed bodies refused, the size cap while streaming, the
    traceparent, no redirects, no proxy); see ``http1``. ``timeout`` bounds the connect; the
    caller bounds the whole exchange. The caller reads ``stream`` and must ``aclose()``.
    """
    async with asyncio.timeout(timeout):
        return await http1.post(url, headers=headers, content=content, limit=max_response_bytes())
