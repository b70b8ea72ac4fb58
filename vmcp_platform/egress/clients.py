"""The httpx clients every provider call and OAuth request goes through.

``http_client()`` is the async client of provider calls (built-in connectors): one per event
loop (a web process has one loop, so one pool per process; connections belong to the loop that
opened them). ``sync_client()`` is the sync one (OAuth code exchange, refresh and revocation run
in sync Django code): one per process. Both

- connect only through the guarded transports of ``.backends`` (the address is checked after
  resolution, at connect time),
- never follow redirects (a provider API never needs them, and following one could carry the
  user's credential to another host),
- ignore proxy variables from the environment (``trust_env=False``),
- cut off responses larger than ``VMCP_MAX_PROVIDER_RESPONSE_BYTES`` while streaming, so a
  misbehaving provider can't exhaust memory (the call then fails with ``ResponseTooLarge``),
- and time out (``VMCP_TOOL_TIMEOUT_SECONDS`` unless the call says otherwise).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from django.conf import settings

from .backends import guarded_httpx_sync_transport, guarded_httpx_transport

DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 30.0
POOL_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


class ResponseTooLarge(httpx.HTTPError):
    """The provider's response exceeded the size bound."""


def max_response_bytes() -> int:
    return int(getattr(settings, "VMCP_MAX_PROVIDER_RESPONSE_BYTES", DEFAULT_MAX_RESPONSE_BYTES))


def call_timeout() -> float:
    return float(getattr(settings, "VMCP_TOOL_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))


def ask_uncompressed(headers: Any) -> None:
    """Ask for the body as it is: the size bounds count the bytes received, and the clients
    decompress after them, so a small gzip bomb would otherwise inflate past every bound."""
    headers["Accept-Encoding"] = "identity"


def is_compressed(headers: Any) -> bool:
    """A response compressed although we asked for identity: refused, never decompressed."""
    encoding = headers.get("content-encoding", "").strip().lower()
    return encoding not in ("", "identity")


def _refuse_declared_size(response: httpx.Response, limit: int) -> bool:
    declared = response.headers.get("content-length")
    return bool(declared and declared.isdigit() and int(declared) > limit)


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
    """The guarded async transport, with the size bound on every response."""

    def __init__(self) -> None:
        self._inner = guarded_httpx_transport(limits=POOL_LIMITS)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limit = max_response_bytes()  # read per request: the pool outlives a settings change
        ask_uncompressed(request.headers)
        response = await self._inner.handle_async_request(request)
        if is_compressed(response.headers):
            await response.aclose()
            raise ResponseTooLarge("a compressed response was refused (identity was asked)")
        if _refuse_declared_size(response, limit):
            await response.aclose()
            raise ResponseTooLarge(f"response larger than {limit} bytes")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _BoundedStream(response.stream, limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _BoundedSyncStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        total = 0
        for chunk in self._inner:
            total += len(chunk)
            if total > self._limit:
                raise ResponseTooLarge(f"response larger than {self._limit} bytes")
            yield chunk

    def close(self) -> None:
        self._inner.close()


class BoundedSyncTransport(httpx.BaseTransport):
    """The guarded sync transport, with the size bound on every response."""

    def __init__(self) -> None:
        self._inner = guarded_httpx_sync_transport(limits=POOL_LIMITS)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        limit = max_response_bytes()
        ask_uncompressed(request.headers)
        response = self._inner.handle_request(request)
        if is_compressed(response.headers):
            response.close()
            raise ResponseTooLarge("a compressed response was refused (identity was asked)")
        if _refuse_declared_size(response, limit):
            response.close()
            raise ResponseTooLarge(f"response larger than {limit} bytes")
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _BoundedSyncStream(response.stream, limit)
        return response

    def close(self) -> None:
        self._inner.close()


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def http_client() -> httpx.AsyncClient:
    """This loop's pooled, guarded client for provider calls."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            transport=BoundedTransport(),
            trust_env=False,  # no proxy from the environment around the guarded transport
            follow_redirects=False,
            timeout=call_timeout(),
        )
        _clients[loop] = client
    return client


_sync_lock = threading.Lock()
# (pid, client): a forked worker (Celery prefork) must not share its parent's sockets.
_sync: tuple[int, httpx.Client] | None = None


def sync_client() -> httpx.Client:
    """This process's pooled, guarded client for sync code (httpx.Client is thread-safe)."""
    global _sync
    with _sync_lock:
        if _sync is None or _sync[0] != os.getpid() or _sync[1].is_closed:
            client = httpx.Client(
                transport=BoundedSyncTransport(),
                trust_env=False,
                follow_redirects=False,
                timeout=call_timeout(),
            )
            _sync = (os.getpid(), client)
        return _sync[1]


class FetchFailed(Exception):
    """A one-off document fetch failed; the message names the status or error, never a body."""


def fetch_bytes(url: str, *, max_bytes: int, timeout: float) -> bytes:
    """GET ``url`` once through the guarded sync transport (documents: OpenAPI, metadata).

    Its own bound, not ``VMCP_MAX_PROVIDER_RESPONSE_BYTES``: a document may be larger than any
    API response (GitHub's OpenAPI description is 13 MB). No redirects, like every client here.
    """
    with httpx.Client(
        transport=guarded_httpx_sync_transport(),
        trust_env=False,
        follow_redirects=False,
        timeout=timeout,
    ) as client:
        try:
            with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
                if is_compressed(response.headers):
                    raise FetchFailed("answered with a compressed body (identity was asked)")
                if response.is_redirect:
                    raise FetchFailed(f"answered HTTP {response.status_code} (a redirect)")
                if not response.is_success:
                    raise FetchFailed(f"answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchFailed(f"is larger than {max_bytes} bytes")
                chunks, total = [], 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise FetchFailed(f"is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise FetchFailed(f"could not be fetched ({type(exc).__name__})") from None
