"""Persistent upstream MCP sessions for the execution path's ``mcp_upstream.call_tool``.

Opening an SDK ``Client`` per call costs more than the call: the era probe (or the initialize
handshake), and — because the SDK validates structured results against the tool's output
schema — a ``tools/list`` and a schema compilation, every time. So calls reuse one connected
``Client`` per (event loop, scope, server URL, headers). The scope is the tenant, connection and
end user (``tool_execute`` sets it), so an upstream that keeps per-session state never shows one
user's state to another, exactly as with a session per call; the headers carry the credential,
so a changed credential gets a new session, and a session never lives long
(``IDLE_SECONDS``, ``MAX_AGE_SECONDS``). Everything that made a call safe still happens per
call: the SSRF check before it (``mcp_upstream._precheck``), the size bound, the time bound.

A session is opened and closed by a task of its own (the SDK's task groups must be entered and
left by one task); calls from any request task share it. Any failure retires the session (calls
still running on it finish first), and a call refused because the upstream forgot the session
(HTTP 404 → "Session terminated": nothing was executed) is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import Implementation

from connectors.mcp_common import eras, known_era, provider_error, remember_era
from vmcp_platform.egress.upstream import max_response_bytes, upstream_client
from vmcp_platform.observability import metrics

IDLE_SECONDS = 60.0
MAX_AGE_SECONDS = 300.0
MAX_SESSIONS_PER_LOOP = 256

Key = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(eq=False)
class _Pooled:
    key: Key
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    client: Client | None = None
    guard: Any = None
    error: BaseException | None = None
    task: asyncio.Task[None] | None = None
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    in_use: int = 0
    retired: bool = False
    calls: int = 0

    def stale(self, now: float) -> bool:
        return (
            self.retired
            or self.error is not None
            or (self.ready.is_set() and self.client is None)
            or now - self.created > MAX_AGE_SECONDS
            or (self.in_use == 0 and now - self.last_used > IDLE_SECONDS)
        )


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Key, _Pooled]] = (
    weakref.WeakKeyDictionary()
)


def _pool() -> dict[Key, _Pooled]:
    return _pools.setdefault(asyncio.get_running_loop(), {})


def forget() -> None:
    """Drop every pooled session of every loop (their tasks end with their loops)."""
    for pool in list(_pools.values()):
        for pooled in list(pool.values()):
            _retire(pool, pooled)
    _pools.clear()
    metrics.set_upstream_pool_size(0)


def _retire(pool: dict[Key, _Pooled], pooled: _Pooled) -> None:
    pooled.retired = True
    if pool.get(pooled.key) is pooled:
        del pool[pooled.key]
        metrics.set_upstream_pool_size(sum(len(p) for p in _pools.values()))
    if pooled.in_use == 0:
        pooled.stop.set()


async def _own(
    pooled: _Pooled,
    server_url: str,
    headers: dict[str, str],
    timeout: float,
    client_options: dict[str, Any] | None = None,
) -> None:
    """The session's life: open, serve calls until told to stop (or until it breaks), close."""
    http, pooled.guard = upstream_client(headers=headers, timeout=timeout)
    known = known_era(server_url)
    try:
        async with http:
            client = Client(
                streamable_http_client(server_url, http_client=http),
                client_info=Implementation(name="vmcp", version="1.0.0"),
                read_timeout_seconds=timeout,
                cache=None,
                **known,
                **(client_options or {}),
            )
            # Bounded by the HTTP timeouts and the handshake's read timeout; the caller's own
            # deadline bounds its wait for this.
            async with client:
                if not known:
                    remember_era(server_url, client)
                pooled.client = client
                pooled.ready.set()
                try:
                    await pooled.stop.wait()
                finally:
                    pooled.client = None
    except BaseException as exc:  # noqa: BLE001 - handed to the caller that waits for it
        if not pooled.ready.is_set():
            pooled.error = exc
        if isinstance(exc, asyncio.CancelledError):
            raise
    finally:
        pooled.retired = True
        pooled.ready.set()


async def _acquire(
    scope: str,
    server_url: str,
    headers: dict[str, str],
    timeout: float,
    client_options: dict[str, Any] | None = None,
) -> tuple[_Pooled, bool]:
    """A connected session for (scope, server, headers), and whether it was opened just now."""
    pool = _pool()
    key: Key = (scope, server_url, tuple(sorted(headers.items())))
    now = time.monotonic()
    for other in [p for p in pool.values() if p.stale(now)]:
        _retire(pool, other)
    pooled = pool.get(key)
    fresh = pooled is None
    if pooled is None:
        if len(pool) >= MAX_SESSIONS_PER_LOOP:
            idle = [p for p in pool.values() if p.in_use == 0]
            if idle:
                _retire(pool, min(idle, key=lambda p: p.last_used))
        pooled = _Pooled(key=key)
        pool[key] = pooled
        metrics.set_upstream_pool_size(sum(len(p) for p in _pools.values()))
        # A fresh context: the session serves every call of its key, so it must not keep the
        # opener's (its relay would answer the upstream's requests that come outside any call,
        # its request record would be noted into after that request ended).
        pooled.task = asyncio.get_running_loop().create_task(
            _own(pooled, server_url, dict(headers), timeout, client_options),
            name="vmcp-upstream-session",
            context=contextvars.Context(),
        )
    pooled.in_use += 1
    pooled.last_used = now
    try:
        await pooled.ready.wait()
    except BaseException:
        _release(pool, pooled)
        raise
    if pooled.error is not None or pooled.client is None:
        _release(pool, pooled)
        _retire(pool, pooled)
        raise pooled.error or RuntimeError("upstream MCP session closed")
    return pooled, fresh


def _release(pool: dict[Key, _Pooled], pooled: _Pooled) -> None:
    pooled.in_use -= 1
    pooled.last_used = time.monotonic()
    if pooled.retired and pooled.in_use == 0:
        pooled.stop.set()


def _session_forgotten(exc: BaseException) -> bool:
    return isinstance(exc, MCPError) and exc.error.message == "Session terminated"


async def call(
    *,
    scope: str,
    server_url: str,
    headers: dict[str, str],
    name: str,
    arguments: dict[str, Any],
    progress_callback: Any,
    timeout: float,
    client_options: dict[str, Any] | None = None,
    invoke: Callable[[Client], Awaitable[Any]] | None = None,
) -> Any:
    """``Client.call_tool`` on a pooled session; SDK/transport errors become ``ProviderError``.

    ``client_options`` (relayed calls, ``mcp_relay.routed_options``) are fixed when the session
    opens, so the scope must name them; ``invoke`` replaces the plain ``call_tool``.
    """
    pool = _pool()
    for attempt in (1, 2):
        pooled: _Pooled | None = None
        try:
            with anyio.fail_after(timeout):
                pooled, fresh = await _acquire(scope, server_url, headers, timeout, client_options)
                pooled.guard.limit = max_response_bytes()
                pooled.guard.auth_status = None
                assert pooled.client is not None
                if invoke is not None:
                    result = await invoke(pooled.client)
                else:
                    result = await pooled.client.call_tool(
                        name,
                        arguments,
                        read_timeout_seconds=timeout,
                        progress_callback=progress_callback,
                    )
            pooled.calls += 1
            return result
        except Exception as exc:
            if pooled is not None:
                _retire(pool, pooled)
            eras.pop(server_url, None)
            if attempt == 1 and pooled is not None and not fresh and _session_forgotten(exc):
                continue
            guard = pooled.guard if pooled is not None and pooled.guard is not None else None
            raise provider_error(exc, guard=guard or _NO_GUARD, timeout=timeout) from None
        finally:
            if pooled is not None:
                _release(pool, pooled)
    raise AssertionError("unreachable")


class _NoGuard:
    exceeded = False
    limit = 0


_NO_GUARD: Any = _NoGuard()
