"""The pooled HTTP client provider calls go through, with bounded response sizes.

One ``httpx.AsyncClient`` per event loop (a web process has one loop, so one pool per process;
connections belong to the loop that opened them). Responses larger than
``VMCP_MAX_PROVIDER_RESPONSE_BYTES`` are cut off while streaming, so a misbehaving provider can't
exhaust memory; the call then fails with a provider error.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator

import httpx
from django.conf import settings

DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 30.0


class ResponseTooLarge(httpx.HTTPError):
    """The provider's response exceeded the size bound."""


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._inner:
            total += len(chunk)
            if total > self._limit:
                raise ResponseTooLarge(f"response larger than {self._limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class BoundedTransport(httpx.AsyncBaseTransport):
    def __init__(self, limit: int) -> None:
        self._inner = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)
        )
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._limit:
            await response.aclose()
            raise ResponseTooLarge(f"response larger than {self._limit} bytes")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _BoundedStream(response.stream, self._limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def max_response_bytes() -> int:
    return int(getattr(settings, "VMCP_MAX_PROVIDER_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES))


def call_timeout() -> float:
    return float(getattr(settings, "VMCP_TOOL_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def http_client() -> httpx.AsyncClient:
    """This loop's pooled client. Redirects are not followed: a provider API never needs them,
    and following one could carry the user's credential to another host."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            transport=BoundedTransport(max_response_bytes()),
            trust_env=False,  # no proxy from the environment around the bounded transport
            follow_redirects=False,
            timeout=call_timeout(),
        )
        _clients[loop] = client
    return client
