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

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context

from .jsonrpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    JsonRpcError,
    RequestId,
)

logger = logging.getLogger(__name__)

MODERN_VERSIONS = ("2026-07-28",)
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[0]
SUPPORTED_VERSIONS = (*MODERN_VERSIONS, *HANDSHAKE_VERSIONS)

SERVER_NAME = "vmcp"
SERVER_VERSION = "1.0.0"
SERVER_INFO_META_KEY = "io.modelcontextprotocol/serverInfo"
LOG_LEVEL_META_KEY = "io.modelcontextprotocol/logLevel"

# tools/list pages; the cursor is opaque to clients (base64 of an offset).
PAGE_SIZE = 100
# How long a 2026-07-28 client may reuse a tools/list (or discover) result. Short, because an
# admin edit should reach agents quickly; listeners get notifications/tools/list_changed anyway.
# "private": the list depends on the token's config, so no cache may share it across tokens.
LIST_TTL_MS = 30_000
CACHE_SCOPE = "private"

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

Notify = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's config and end user, in the tenant of the URL."""

    tenant: Any  # tenants.models.Tenant
    config: Any  # configs.models.McpConfig (detached; read-only here)
    token_id: str
    identifier: str
    # gateway.warm.state.WarmState when the warm path authenticated the request: its fresh
    # limits and tool index replace the ORM reads below. None: the ORM path.
    warm: Any = None

    @property
    def config_id(self) -> str:
        return str(self.config.pk)

    @property
    def actor(self) -> str:
        return f"identifier:{self.identifier}"


@dataclass
class RequestContext:
    principal: Principal
    protocol_version: str
    modern: bool
    request_id: RequestId | None
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    # Where notifications about this request go (progress, logs); None when the response is
    # plain JSON and nothing can be streamed.
    notify: Notify | None = None
    log_level: str | None = None
    session_id: str | None = None


def server_info() -> dict[str, str]:
    return {"name": SERVER_NAME, "title": "vmcp virtual MCP server", "version": SERVER_VERSION}


def server_capabilities() -> dict[str, Any]:
    # A virtual server exposes tools. Prompts and resources are declared with empty lists so
    # generic clients that probe them get a well-formed answer rather than an error.
    return {
        "tools": {"listChanged": True},
        "prompts": {},
        "resources": {},
        "logging": {},
    }


def instructions_for(principal: Principal) -> str | None:
    return principal.config.description or None


def negotiate_version(requested: Any) -> str:
    """2025-11-25 initialize: echo a supported version, otherwise offer the latest."""
    if isinstance(requested, str) and requested in HANDSHAKE_VERSIONS:
        return requested
    return LATEST_HANDSHAKE_VERSION


def initialize_result(principal: Principal, requested_version: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "protocolVersion": negotiate_version(requested_version),
        "capabilities": server_capabilities(),
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
        "capabilities": server_capabilities(),
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


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"tools:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: Any) -> int:
    if not isinstance(cursor, str) or not cursor or len(cursor) > 64:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor") from None
    if kind != "tools" or offset <= 0:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    return offset


def _exposed_tools(principal: Principal) -> list[Any]:
    from configs.tools import config_exposed_tools

    with tenant_context(principal.tenant):
        return list(config_exposed_tools(principal.config))


def _lookup_tool(principal: Principal, name: str) -> Any | None:
    from configs.tools import config_tool_lookup

    with tenant_context(principal.tenant):
        return config_tool_lookup(principal.config, name)


async def lookup_tool(principal: Principal, name: str) -> Any | None:
    """The exposed tool of that name (``configs.tools.ExposedTool``) or None."""
    if principal.warm is not None:
        indexed = principal.warm.index.by_name.get(name)
        return None if indexed is None else indexed.exposed
    return await sync_to_async(_lookup_tool)(principal, name)


async def _tools_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    offset = _decode_cursor(params["cursor"]) if params.get("cursor") is not None else 0
    if ctx.principal.warm is not None:
        tools = ctx.principal.warm.index.tools
    else:
        tools = await sync_to_async(_exposed_tools)(ctx.principal)
    if offset > len(tools):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    page = tools[offset : offset + PAGE_SIZE]
    result: dict[str, Any] = {"tools": [dict(tool.definition) for tool in page]}
    if offset + PAGE_SIZE < len(tools):
        result["nextCursor"] = _encode_cursor(offset + PAGE_SIZE)
    return _cache_hints(result, ctx)


async def _prompts_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if params.get("cursor") is not None:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    return _cache_hints({"prompts": []}, ctx)


async def _resources_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if params.get("cursor") is not None:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    return _cache_hints({"resources": []}, ctx)


async def _resource_templates_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    if params.get("cursor") is not None:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    return _cache_hints({"resourceTemplates": []}, ctx)


async def _resources_read(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    raise JsonRpcError(INVALID_PARAMS, "Resource not found", {"uri": params.get("uri")})


async def _tools_call(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    from .tools_call import tools_call  # lazily: it builds on this module's types

    return await tools_call(params, ctx)


Handler = Callable[[dict[str, Any], RequestContext], Awaitable[dict[str, Any]]]

_SHARED: dict[str, Handler] = {
    "tools/list": _tools_list,
    "tools/call": _tools_call,
    "prompts/list": _prompts_list,
    "resources/list": _resources_list,
    "resources/templates/list": _resource_templates_list,
    "resources/read": _resources_read,
}
_LEGACY_METHODS: dict[str, Handler] = {**_SHARED, "ping": _ping, "logging/setLevel": _set_level}
_MODERN_METHODS: dict[str, Handler] = {**_SHARED, "server/discover": _discover}
