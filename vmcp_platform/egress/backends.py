"""Network backends that check every address at connect time, and the transports built on them.

httpcore (under httpx) and httpcore2 (under httpx2, the ``mcp`` SDK's client) open each TCP
connection through a "network backend". Ours wraps the library's own: it resolves the host
itself, refuses when any address is non-public (``ssrf``), and connects to the address it
checked, so a DNS answer that changes between check and connect (DNS rebinding) does not help,
and neither does a redirect. TLS still verifies the original host name: httpcore takes the SNI
and certificate name from the request's origin, not from the address we connect to.

The transports are always direct (no proxy: a proxy would make the connect-time check look at
the proxy's address) and ignore proxy variables from the environment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .ssrf import UnsafeUrl, is_host_allowed, resolve_checked, resolve_checked_sync


class EgressRefused(Exception):  # noqa: N818 — a marker mixed into the libraries' ConnectError
    """Mixed into the ConnectError a guarded backend raises, so callers can tell a refusal
    from a network failure (``refusal_of``)."""


def refusal_of(exc: BaseException) -> str | None:
    """The refusal message when ``exc`` (or what caused it) is an SSRF refusal, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EgressRefused):
            return str(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _refused_class(connect_error: type[Exception]) -> type[Exception]:
    return type(f"Refused{connect_error.__name__}", (connect_error, EgressRefused), {})


class GuardedAsyncBackend:
    """Wraps an async httpcore/httpcore2 backend: resolve, check, connect to that address."""

    def __init__(self, inner: Any, connect_error: type[Exception]) -> None:
        self._inner = inner
        self._connect_error = connect_error
        self._refused = _refused_class(connect_error)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        try:
            checked = [] if is_host_allowed(host) else await resolve_checked(host, port)
        except UnsafeUrl as exc:
            # The client maps this to its ConnectError; the message names no secret.
            raise self._refused(exc.message) from None
        last: Exception | None = None
        for address in checked or [host]:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except self._connect_error as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refused("unix sockets are not allowed for outbound connections")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedSyncBackend:
    """The same check for httpcore's sync connection pool (sync Django code: OAuth calls)."""

    def __init__(self, inner: Any, connect_error: type[Exception]) -> None:
        self._inner = inner
        self._connect_error = connect_error
        self._refused = _refused_class(connect_error)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        try:
            checked = [] if is_host_allowed(host) else resolve_checked_sync(host, port)
        except UnsafeUrl as exc:
            raise self._refused(exc.message) from None
        last: Exception | None = None
        for address in checked or [host]:
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except self._connect_error as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refused("unix sockets are not allowed for outbound connections")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _guard_pool(transport: Any, pool_type: type, backend: Any) -> Any:
    pool = transport._pool
    if not isinstance(pool, pool_type):  # a proxy pool would bypass the check
        raise RuntimeError("the SSRF guard needs a direct connection pool")
    pool._network_backend = backend(pool._network_backend)
    return transport


def guarded_httpx2_transport(**kwargs: Any) -> Any:
    """An ``httpx2.AsyncHTTPTransport`` (the ``mcp`` SDK's client) checking every connection."""
    import httpcore2
    import httpx2

    transport = httpx2.AsyncHTTPTransport(trust_env=False, proxy=None, **kwargs)
    return _guard_pool(
        transport,
        httpcore2.AsyncConnectionPool,
        lambda inner: GuardedAsyncBackend(inner, httpcore2.ConnectError),
    )


def guarded_httpx_transport(**kwargs: Any) -> Any:
    """An ``httpx.AsyncHTTPTransport`` checking every connection (provider calls)."""
    import httpcore
    import httpx

    transport = httpx.AsyncHTTPTransport(trust_env=False, proxy=None, **kwargs)
    return _guard_pool(
        transport,
        httpcore.AsyncConnectionPool,
        lambda inner: GuardedAsyncBackend(inner, httpcore.ConnectError),
    )


def guarded_httpx_sync_transport(**kwargs: Any) -> Any:
    """An ``httpx.HTTPTransport`` checking every connection (sync code: OAuth token calls)."""
    import httpcore
    import httpx

    transport = httpx.HTTPTransport(trust_env=False, proxy=None, **kwargs)
    return _guard_pool(
        transport,
        httpcore.ConnectionPool,
        lambda inner: GuardedSyncBackend(inner, httpcore.ConnectError),
    )
