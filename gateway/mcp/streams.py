"""Server-to-client notification streams, fanned out across web processes by the Channels layer.

Every open stream of a config joins ``config_group(schema, config_id)``; an admin's change to
the config (``configs.signals.config_changed``) is broadcast there as ``mcp.tools_changed`` and
each stream turns it into ``notifications/tools/list_changed``. Every stream also joins its
token's group, so revoking the token ends it at once; a periodic re-check of the token (and of
the legacy session) is the backstop when a broadcast is missed.

Open streams are bounded per token and per tenant (``stream_slot``): each one holds a leased
slot in Redis (``slots``), renewed while it is open and released when it ends, so a crashed
process frees its streams' slots after ``VMCP_MCP_STREAM_SLOT_LEASE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from vmcp_platform.errors import ServiceUnavailable

from . import slots
from .jsonrpc import SSE_KEEPALIVE
from .sessions import redis_client

logger = logging.getLogger(__name__)

TOOLS_CHANGED = "mcp.tools_changed"
CLOSE = "mcp.close"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _group(*parts: str) -> str:
    # Channels group names: ASCII alphanumerics, hyphens, underscores, periods, < 100 chars.
    return ".".join(_UNSAFE.sub("_", part) for part in parts)[:99]


def config_group(tenant_schema: str, config_id: str) -> str:
    return _group("mcp", "config", tenant_schema, str(config_id))


def token_group(tenant_schema: str, token_id: str) -> str:
    return _group("mcp", "token", tenant_schema, str(token_id))


def heartbeat_seconds() -> float:
    return float(getattr(settings, "VMCP_MCP_STREAM_HEARTBEAT_SECONDS", 15))


def broadcast(group: str, message_type: str) -> None:
    """From sync code (signal receivers): tell every stream in ``group``; never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": message_type})
    except Exception:
        # A missed broadcast is covered by the streams' periodic re-check and by clients
        # re-listing; it must never fail the admin's change that triggered it.
        logger.warning("could not broadcast %s to %s", message_type, group, exc_info=True)


def _lease_seconds() -> int:
    return max(int(settings.VMCP_MCP_STREAM_SLOT_LEASE_SECONDS), 3)


class StreamSlot:
    """One of the token's (and tenant's) stream slots, renewed in the background until released.

    Acquired before the response starts, so a refusal (``RateLimited``) is still a plain 429.
    """

    def __init__(self, client: Any, keys: slots.SlotKeys, member: str, lease: int) -> None:
        self._client, self._keys, self._member, self._lease = client, keys, member, lease
        self._renewer = asyncio.ensure_future(self._renew())

    @classmethod
    async def acquire(cls, *, tenant_schema: str, token_id: str) -> StreamSlot:
        client = redis_client()
        keys = slots.slot_keys(slots.STREAMS, tenant_schema=tenant_schema, token_id=token_id)
        member, lease = secrets.token_hex(12), _lease_seconds()
        await slots.slot_acquire(
            client,
            keys,
            member=member,
            lease_seconds=lease,
            token_bound=int(settings.VMCP_MCP_STREAMS_PER_TOKEN),
            tenant_bound=int(settings.VMCP_MCP_STREAMS_PER_TENANT),
            what="open MCP streams",
        )
        return cls(client, keys, member, lease)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await slots.slot_renew(
                    self._client, self._keys, member=self._member, lease_seconds=self._lease
                )
            except ServiceUnavailable:
                logger.warning("could not renew a stream slot; retrying")

    async def release(self) -> None:
        self._renewer.cancel()
        try:
            await slots.slot_release(self._client, self._keys, member=self._member)
        except ServiceUnavailable:
            # The lease runs out on its own.
            logger.warning("could not release a stream slot; it expires with its lease")


@asynccontextmanager
async def stream_slot(*, tenant_schema: str, token_id: str) -> AsyncIterator[None]:
    """Hold a stream slot for the body (``RateLimited`` when the bound is reached)."""
    slot = await StreamSlot.acquire(tenant_schema=tenant_schema, token_id=token_id)
    try:
        yield
    finally:
        await slot.release()


async def run_stream(
    *,
    send: Callable[[dict[str, Any]], Awaitable[None]],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    headers: list[tuple[bytes, bytes]],
    groups: list[str],
    first_frames: list[bytes],
    frame_for: Callable[[dict[str, Any]], bytes | None],
    still_valid: Callable[[], Awaitable[bool]],
    final_frame: Callable[[], bytes] | None = None,
) -> None:
    """Hold one SSE response open, relaying group messages until disconnect, close or expiry.

    Subscribes before the first frame is written, so nothing published after the client saw
    the stream open is lost.
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    get_task: asyncio.Task | None = None
    disconnect_task = asyncio.ensure_future(_wait_disconnect(receive))
    connected = True
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {
                "type": "http.response.body",
                "body": b"".join(first_frames) or b": open\n\n",
                "more_body": True,
            }
        )
        while True:
            if get_task is None:
                get_task = asyncio.ensure_future(layer.receive(channel))
            done, _ = await asyncio.wait(
                {get_task, disconnect_task},
                timeout=heartbeat_seconds(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if disconnect_task in done:
                connected = False
                return
            if get_task in done:
                message = get_task.result()
                get_task = None
                if message.get("type") == CLOSE:
                    return
                frame = frame_for(message)
                if frame:
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                continue
            if not await still_valid():
                return
            await send({"type": "http.response.body", "body": SSE_KEEPALIVE, "more_body": True})
    finally:
        for task in (get_task, disconnect_task):
            if task is not None and not task.done():
                task.cancel()
        for group in groups:
            try:
                await layer.group_discard(group, channel)
            except Exception:
                logger.debug("group_discard failed for %s", group, exc_info=True)
        if connected:
            tail = final_frame() if final_frame else b""
            try:
                await send({"type": "http.response.body", "body": tail, "more_body": False})
            except Exception:
                logger.debug("stream already closed", exc_info=True)


async def _wait_disconnect(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    while (await receive()).get("type") != "http.disconnect":
        pass
