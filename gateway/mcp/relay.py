"""Server-to-client requests on the 2025-11-25 wire: sent on a call's SSE stream, answered by a
POST of their own, which may reach any web process.

While a relayed ``tools/call`` runs, its consumer sends the upstream's request
(``sampling/createMessage``, ``elicitation/create``, ``roots/list``) to the agent's client as a
JSON-RPC request on the call's SSE response, under a fresh unguessable id, and waits on a
channel of its own (the Channels/Redis layer the streams use). The client answers with a POST
carrying a JSON-RPC response on the same ``Mcp-Session-Id``; whichever process gets it looks
the id up in Redis (``deliver``) and forwards the answer to the waiting channel.

Bound to the caller: a pending request remembers the session it was sent on, and the session is
bound to the tenant, config and end user (``sessions``), so an answer is delivered only when it
arrives on that very session; anything else (another user's session, a guessed or replayed id)
is dropped like any stray response. The request and its record live only as long as the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from connectors.mcp_relay import RelayRefused
from vmcp_platform.errors import ServiceUnavailable

from .jsonrpc import INTERNAL_ERROR, Message
from .sessions import redis_client

logger = logging.getLogger(__name__)

_KEY_PREFIX = "vmcp:mcp:relay:"
_ID_PREFIX = "vmcp-relay-"
_ANSWER = "mcp.relay.answer"
# A pending request's record outlives no call (a call is bounded by the tool timeout).
RECORD_TTL_SECONDS = 600

Send = Callable[[dict[str, Any]], Awaitable[None]]


def _key(request_id: str) -> str:
    return _KEY_PREFIX + request_id


async def ask(
    *, send: Send, session_id: str, method: str, params: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Send one request to the client on this call's stream; its result, or ``RelayRefused``."""
    layer = get_channel_layer()
    if layer is None:
        raise RelayRefused(INTERNAL_ERROR, "the gateway cannot relay requests here")
    channel = await layer.new_channel()
    request_id = _ID_PREFIX + secrets.token_urlsafe(18)
    record = json.dumps({"channel": channel, "session": session_id})
    try:
        await redis_client().set(_key(request_id), record, ex=RECORD_TTL_SECONDS)
    except RedisError:
        raise RelayRefused(INTERNAL_ERROR, "the gateway cannot relay requests now") from None
    try:
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params:
            request["params"] = params
        await send(request)
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout)
        except TimeoutError:
            await _cancelled(send, request_id, "timed out")
            raise RelayRefused(
                INTERNAL_ERROR, f"the client did not answer {method} in time"
            ) from None
        except asyncio.CancelledError:
            # The upstream withdrew its request (or the call ended): tell the client, as the
            # upstream told us, so it stops asking its user or model.
            await asyncio.shield(_cancelled(send, request_id, "the server withdrew the request"))
            raise
    finally:
        try:
            await redis_client().delete(_key(request_id))
        except RedisError:
            pass  # expires on its own
    response = message.get("response") if isinstance(message, dict) else None
    if not isinstance(response, dict):
        raise RelayRefused(INTERNAL_ERROR, f"the client's {method} answer was malformed")
    error = response.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        raise RelayRefused(
            code if isinstance(code, int) else INTERNAL_ERROR,
            str(error.get("message") or "the client refused")[:500],
            error.get("data"),
        )
    result = response.get("result")
    if not isinstance(result, dict):
        raise RelayRefused(INTERNAL_ERROR, f"the client's {method} answer was malformed")
    return result


async def _cancelled(send: Send, request_id: str, reason: str) -> None:
    try:
        await send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": reason},
            }
        )
    except Exception:  # noqa: BLE001 - the stream may be gone already; nothing to tell then
        logger.debug("could not tell the client that relayed request %s ended", request_id)


async def deliver(session_id: str, message: Message) -> bool:
    """Hand a client's response to the call waiting for it; False when none on this session is."""
    request_id = message.raw.get("id")
    if not isinstance(request_id, str) or not request_id.startswith(_ID_PREFIX):
        return False
    if len(request_id) > 64:
        return False
    client = redis_client()
    try:
        raw = await client.get(_key(request_id))
        if raw is None:
            return False
        record = json.loads(raw)
        if record.get("session") != session_id:
            return False  # someone else's pending request: as if it did not exist
        if await client.delete(_key(request_id)) != 1:
            return False  # answered already (a concurrent duplicate)
    except RedisError:
        raise ServiceUnavailable("The session store is unavailable; try again shortly.") from None
    layer = get_channel_layer()
    if layer is None:
        return False
    answer = {key: message.raw[key] for key in ("result", "error") if key in message.raw}
    await layer.send(record["channel"], {"type": _ANSWER, "response": answer})
    return True
