"""The MCP method table, shared by both protocol revisions.

The consumer turns each HTTP request into a ``RequestContext`` (who is calling, at which
protocol version, with which client capabilities, where notifications for this request go)
and calls ``dispatch``. Nothing here knows about HTTP, sessions or Redis, so the stateless
2026-07-28 wire and the session-based 2025-11-25 wire run the same code for tools.

Every ORM call runs in a sync function that opens ``tenant_context(tenant)`` itself: Channels
runs those calls on one shared thread, so a schema set for one request must not leak into
the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from . import features, subscribing
from .context import (
    HANDSHAKE_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    LOG_LEVEL_META_KEY,
    LOG_LEVELS,
    MODERN_VERSIONS,
    SERVER_INFO_META_KEY,
    SERVER_NAME,
    SERVER_VERSION,
    SUPPORTED_VERSIONS,
    Notify,
    Principal,
    RequestContext,
    find_tools,
    lookup_tool,
)
from .cursors import decode_cursor, encode_cursor
from .features import exposure_capabilities
from .jsonrpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    JsonRpcError,
)
from .tools_call import _warm_writer, tools_call

logger = logging.getLogger(__name__)

# Re-exported: the consumer and the wires import the request's types from here.
__all__ = [
    "HANDSHAKE_VERSIONS",
    "LATEST_HANDSHAKE_VERSION",
    "LOG_LEVEL_META_KEY",
    "LOG_LEVELS",
    "MODERN_VERSIONS",
    "SERVER_INFO_META_KEY",
    "SERVER_NAME",
    "SERVER_VERSION",
    "SUPPORTED_VERSIONS",
    "Notify",
    "Principal",
    "RequestContext",
    "dispatch",
    "lookup_tool",
]

# tools/list pages; the cursor is opaque to clients (base64 of an offset).
PAGE_SIZE = 100
# How long a 2026-07-28 client may reuse a tools/list (or discover) result. Short, because an
# admin edit should reach agents quickly; listeners get notifications/tools/list_changed anyway.
# "private": the list depends on the token's config, so no cache may share it across tokens.
LIST_TTL_MS = 30_000
CACHE_SCOPE = "private"


def server_info() -> dict[str, str]:
    return {"name": SERVER_NAME, "title": "vmcp virtual MCP server", "version": SERVER_VERSION}


def server_capabilities(features: dict[str, Any] | None = None) -> dict[str, Any]:
    # Tools always; prompts, resources and completions only when the config's mappings expose
    # some (``features.exposure_capabilities``), so a client is not told of what is not there.
    return {"tools": {"listChanged": True}, **(features or {}), "logging": {}}


def instructions_for(principal: Principal) -> str | None:
    return principal.config.description or None


def negotiate_version(requested: Any) -> str:
    """2025-11-25 initialize: echo a supported version, otherwise offer the latest."""
    if isinstance(requested, str) and requested in HANDSHAKE_VERSIONS:
        return requested
    return LATEST_HANDSHAKE_VERSION


def initialize_result(
    principal: Principal, requested_version: Any, features: dict[str, Any] | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "protocolVersion": negotiate_version(requested_version),
        "capabilities": server_capabilities(features),
        "serverInfo": server_info(),
    }
    instructions = instructions_for(principal)
    if instructions:
        result["instructions"] = instructions
    return result


# ---------------------------------------------------------------- dispatch


async def dispatch(method: str, params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    """Run one request; raises ``JsonRpcError``. Adds ``resultType`` on the 2026-07-28 wire."""
    table = _MODERN_METHODS if ctx.modern else _LEGACY_METHODS
    handler = table.get(method)
    if handler is None:
        raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
    result = await handler(params, ctx)
    if ctx.modern:
        result.setdefault("resultType", "complete")
    return result


async def _ping(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return {}


async def _discover(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    result: dict[str, Any] = {
        "supportedVersions": list(SUPPORTED_VERSIONS),
        "capabilities": server_capabilities(await exposure_capabilities(ctx.principal)),
        "serverInfo": server_info(),
        "ttlMs": LIST_TTL_MS,
        "cacheScope": CACHE_SCOPE,
        "_meta": {SERVER_INFO_META_KEY: server_info()},
    }
    instructions = instructions_for(ctx.principal)
    if instructions:
        result["instructions"] = instructions
    return result


async def _set_level(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    level = params.get("level")
    if level not in LOG_LEVELS:
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: level must be one of {LOG_LEVELS}")
    # The consumer persists it on the session (see consumer._after_dispatch).
    ctx.log_level = level
    return {}


def _cache_hints(result: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if ctx.modern:
        result["ttlMs"] = LIST_TTL_MS
        result["cacheScope"] = CACHE_SCOPE
    return result


async def _tools_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    offset = decode_cursor("tools", params["cursor"]) if params.get("cursor") is not None else 0
    tools = await find_tools(ctx.principal)
    if offset > len(tools):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    page = tools[offset : offset + PAGE_SIZE]
    result: dict[str, Any] = {"tools": [dict(tool.definition) for tool in page]}
    if offset + PAGE_SIZE < len(tools):
        result["nextCursor"] = encode_cursor("tools", offset + PAGE_SIZE)
    if offset == 0:
        # Counted for the whole list (every page), once, when an agent starts listing. Not
        # awaited: a listing's statistics row must not add a commit to the agent's wait.
        _spawn(_record_listing(ctx.principal, [tool.definition for tool in tools], len(tools)))
    return _cache_hints(result, ctx)


_background: set[asyncio.Task[None]] = set()


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _background.add(task)  # a strong reference until done (the loop keeps only weak ones)
    task.add_done_callback(_background.discard)


async def _record_listing(principal: Principal, definitions: list[Any], total: int) -> None:
    """One audit row per listing (the overview's token savings from real traffic)."""
    from gateway.execution.auditing import tools_listed_record

    await tools_listed_record(
        tenant=principal.tenant,
        identifier=principal.identifier,
        actor=principal.actor,
        config_id=principal.config_id,
        session_token_id=principal.token_id,
        definitions=definitions,
        total=total,
        writer=_warm_writer(principal),
    )


Handler = Callable[[dict[str, Any], RequestContext], Awaitable[dict[str, Any]]]


def _with_cache_hints(handler: Handler) -> Handler:
    """A list handler whose 2026-07-28 result carries the same cache hints as ``tools/list``."""

    async def listed(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return _cache_hints(await handler(params, ctx), ctx)

    return listed


_SHARED: dict[str, Handler] = {
    "tools/list": _tools_list,
    "tools/call": tools_call,
    "prompts/list": _with_cache_hints(features.prompts_list),
    "prompts/get": features.prompts_get,
    "resources/list": _with_cache_hints(features.resources_list),
    "resources/templates/list": _with_cache_hints(features.resource_templates_list),
    "resources/read": features.resources_read,
    "completion/complete": features.completion_complete,
}
_LEGACY_METHODS: dict[str, Handler] = {
    **_SHARED,
    "ping": _ping,
    "logging/setLevel": _set_level,
    # 2026-07-28 has no resources/subscribe (subscriptions/listen replaces it).
    "resources/subscribe": subscribing.resources_subscribe,
    "resources/unsubscribe": subscribing.resources_unsubscribe,
}
_MODERN_METHODS: dict[str, Handler] = {**_SHARED, "server/discover": _discover}
