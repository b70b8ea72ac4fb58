"""Resource subscriptions of 2025-11-25 sessions: the upstream's updates reach the subscriber.

``resources/subscribe`` on a session starts a watcher in this process: a 2025-11-25 session to
the upstream with that end user's credential, subscribed to the URI and held open. Each
``notifications/resources/updated`` it receives is published to the subscribing session's
channel group (``session_group``), which that session's GET stream joins (in whichever web
process holds it) and turns into the same notification for the agent. Nothing crosses to
another session: the group, the Redis record and the upstream session are all per session.

The subscription itself lives in Redis (``_key``: the session's set of URIs, expiring with the
session), so any process can end it: ``resources/unsubscribe`` removes the URI, DELETE of the
session removes the session. Every ``check_seconds`` each watcher re-checks, failing closed,
that its URI is still subscribed, the session still exists, the token is still valid and the
config still exposes the URI; if anything is gone, it unsubscribes upstream and ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from vmcp_platform.errors import ApplicationError, ProviderError

from . import sessions
from .jsonrpc import notification_message, sse_event
from .streams import _group

logger = logging.getLogger(__name__)

RESOURCE_UPDATED = "mcp.resource_updated"
MAX_PER_SESSION = 16
MAX_PER_PROCESS = 1000


@dataclass
class _Watcher:
    task: asyncio.Task[None]
    stop: asyncio.Event = field(default_factory=asyncio.Event)


# (tenant schema, session id, uri) -> the watcher holding the upstream session.
_watchers: dict[tuple[str, str, str], _Watcher] = {}


def session_group(tenant_schema: str, session_id: str) -> str:
    return _group("mcp", "session", tenant_schema, session_id)


def updated_frame(event: dict[str, Any]) -> bytes | None:
    """The GET stream's ``notifications/resources/updated`` for a watcher's event."""
    uri = event.get("uri")
    if not isinstance(uri, str):
        return None
    return sse_event(notification_message("notifications/resources/updated", {"uri": uri}))


def _key(tenant_schema: str, session_id: str) -> str:
    return f"vmcp:mcp:ressub:{tenant_schema}:{session_id}"


def check_seconds() -> float:
    return float(settings.VMCP_MCP_SUBSCRIPTION_CHECK_SECONDS)


async def subscribed(tenant_schema: str, session_id: str, uri: str) -> bool:
    client = sessions.redis_client()
    return bool(await client.sismember(_key(tenant_schema, session_id), uri))


async def subscription_add(tenant_schema: str, session_id: str, uri: str) -> None:
    """Record the subscription (bounded per session); raises ``ApplicationError`` when full."""
    client = sessions.redis_client()
    key = _key(tenant_schema, session_id)
    if not await client.sismember(key, uri) and await client.scard(key) >= MAX_PER_SESSION:
        raise ApplicationError(
            f"At most {MAX_PER_SESSION} resource subscriptions per session.",
            code="too_many_subscriptions",
            status=429,
        )
    await client.sadd(key, uri)
    await client.expire(key, sessions._ttl())


async def subscription_remove(
    tenant_schema: str, session_id: str, uri: str, *, timeout: float
) -> None:
    """End the subscription; a watcher of this process unsubscribes upstream before this
    returns, one of another process within ``check_seconds`` (it finds the URI gone)."""
    await sessions.redis_client().srem(_key(tenant_schema, session_id), uri)
    await watch_stop(tenant_schema, session_id, uri, timeout=timeout)


async def watch_stop(tenant_schema: str, owner_id: str, uri: str, *, timeout: float) -> None:
    """Stop this process's watcher of ``uri`` for ``owner_id`` (it unsubscribes upstream)."""
    watcher = _watchers.get((tenant_schema, owner_id, uri))
    if watcher is None:
        return
    watcher.stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(watcher.task), timeout)
    except TimeoutError:
        watcher.task.cancel()


async def watch_start(
    *,
    tenant_schema: str,
    session_id: str,
    uri: str,
    server_url: str,
    headers: dict[str, str],
    timeout: float,
    still_allowed: Callable[[], Awaitable[bool]],
    session_bound: bool = True,
) -> None:
    """Subscribe upstream and keep watching; returns once the upstream accepted (or raises).

    ``session_id`` names the owner: a 2025-11-25 session (``session_bound``: the watch also
    ends when its Redis record or the session goes), or a 2026-07-28 listen stream, which
    stops its watchers itself when it ends (``watch_stop``).
    """
    key = (tenant_schema, session_id, uri)
    existing = _watchers.get(key)
    if existing is not None and not existing.task.done():
        return  # already watching for this session: subscribing twice is one subscription
    if len(_watchers) >= MAX_PER_PROCESS:
        raise ApplicationError(
            "This server holds too many resource subscriptions; try again later.",
            code="too_many_subscriptions",
            status=503,
        )
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        _watch(
            key=key,
            group=session_group(tenant_schema, session_id),
            server_url=server_url,
            headers=headers,
            timeout=timeout,
            ready=ready,
            stop=stop,
            still_allowed=still_allowed,
            session_bound=session_bound,
        ),
        name=f"vmcp-resource-watch-{session_id[:8]}",
    )
    _watchers[key] = _Watcher(task=task, stop=stop)
    try:
        await asyncio.wait_for(asyncio.shield(ready), timeout)
    except BaseException:
        task.cancel()
        _watchers.pop(key, None)
        raise


async def _watch(
    *,
    key: tuple[str, str, str],
    group: str,
    server_url: str,
    headers: dict[str, str],
    timeout: float,
    ready: asyncio.Future[None],
    stop: asyncio.Event,
    still_allowed: Callable[[], Awaitable[bool]],
    session_bound: bool,
) -> None:
    from connectors.mcp_features import handshake_session

    tenant_schema, session_id, uri = key

    async def on_message(message: Any) -> None:
        notification = getattr(message, "root", message)
        if getattr(notification, "method", None) != "notifications/resources/updated":
            return
        updated = getattr(getattr(notification, "params", None), "uri", None)
        # The upstream may name a sub-resource of the subscribed URI; anything else is not ours.
        if not isinstance(updated, str) or not updated.startswith(uri) or len(updated) > 2048:
            return
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(group, {"type": RESOURCE_UPDATED, "uri": updated})

    try:
        async with handshake_session(
            server_url,
            headers,
            timeout,
            # No deadline of its own: the periodic checks below end it.
            lifetime=float("inf"),
            message_handler=on_message,
        ) as client:
            await client.subscribe_resource(uri)
            if not ready.done():
                ready.set_result(None)
            while True:
                try:
                    await asyncio.wait_for(stop.wait(), check_seconds())
                    break  # unsubscribed in this process
                except TimeoutError:
                    pass
                if not await _still_wanted(
                    tenant_schema, session_id, uri, still_allowed, session_bound
                ):
                    break
            try:
                await client.unsubscribe_resource(uri)
            except Exception:  # the upstream may be gone; the subscription ends either way
                logger.debug("upstream unsubscribe failed", exc_info=True)
    except Exception as exc:
        if not ready.done():
            ready.set_exception(
                exc
                if isinstance(exc, ProviderError)
                else ProviderError("the upstream MCP server refused the subscription")
            )
        else:
            logger.info("resource watch for a session ended: %s", type(exc).__name__)
    finally:
        watcher = _watchers.get(key)
        if watcher is not None and watcher.task is asyncio.current_task():
            _watchers.pop(key, None)


async def _still_wanted(
    tenant_schema: str,
    session_id: str,
    uri: str,
    still_allowed: Callable[[], Awaitable[bool]],
    session_bound: bool,
) -> bool:
    try:
        if session_bound:
            if not await subscribed(tenant_schema, session_id, uri):
                return False
            if await sessions.session_get(session_id) is None:
                return False
        return await still_allowed()
    except Exception:
        # Redis or the database unreachable: a watch that cannot be checked is not kept.
        logger.warning("ending a resource watch: it could not be re-checked", exc_info=True)
        return False


def forget() -> None:
    """Cancel every watcher of this process (tests)."""
    for watcher in _watchers.values():
        watcher.task.cancel()
    _watchers.clear()
