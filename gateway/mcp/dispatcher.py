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
from django.db import transaction
from django_tenants.utils import tenant_context

from vmcp_platform.errors import (
    ApplicationError,
    ProviderError,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from vmcp_platform.logging import redact

from .jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    SERVICE_UNAVAILABLE,
    JsonRpcError,
    RequestId,
    notification_message,
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


def _unknown_tool_row(principal: Principal, name: str, request_id: str) -> dict[str, Any]:
    from audit.models import EventType, Outcome

    return {
        "event_type": EventType.TOOL_DENIED,
        "outcome": Outcome.DENIED,
        "actor": principal.actor,
        "identifier": principal.identifier,
        "error_code": "unknown_tool",
        "session_token_id": principal.token_id,
        "config_id": principal.config_id,
        "tool_name": name[:128],
        "request_id": request_id,
    }


def _audit_unknown_tool(principal: Principal, name: str, request_id: str) -> None:
    from audit.services import audit_record

    with tenant_context(principal.tenant), transaction.atomic():
        audit_record(**_unknown_tool_row(principal, name, request_id))


async def _audit_unknown_tool_warm(principal: Principal, name: str, request_id: str) -> None:
    from audit.services import audit_row
    from gateway.warm.audit import writer

    row = audit_row(**_unknown_tool_row(principal, name, request_id))
    await writer().write(principal.tenant.schema_name, row)


def _error_result(text: str, ctx: RequestContext, **meta: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
    if meta:
        result["_meta"] = {f"vmcp/{key}": value for key, value in meta.items()}
    return result


async def _tools_call(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    from gateway.execution import tool_execute

    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: name must be a non-empty string")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: arguments must be an object")
    principal = ctx.principal
    request_id = "" if ctx.request_id is None else str(ctx.request_id)[:64]

    exposed = await lookup_tool(principal, name)
    if exposed is None:
        # Scope is enforced here, not only in tools/list: the call never reaches a provider.
        if principal.warm is not None:
            await _audit_unknown_tool_warm(principal, name, request_id)
        else:
            await sync_to_async(_audit_unknown_tool)(principal, name, request_id)
        raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {name}")

    meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
    kwargs: dict[str, Any] = {}
    progress_token = meta.get("progressToken")
    if ctx.notify is not None and isinstance(progress_token, str | int):
        kwargs["progress_callback"] = _progress_forwarder(ctx.notify, progress_token)
    log_level = ctx.log_level or meta.get(LOG_LEVEL_META_KEY)
    if ctx.notify is not None and log_level in LOG_LEVELS:
        kwargs["log_callback"] = _log_forwarder(ctx.notify, log_level)

    try:
        execution = await tool_execute(
            tenant=principal.tenant,
            connection_name=exposed.connection.name,
            tool_name=exposed.tool_name,
            identifier=principal.identifier,
            arguments=arguments,
            actor=principal.actor,
            config_id=principal.config_id,
            session_token_id=principal.token_id,
            exposed_name=name,
            request_id=request_id,
            agent_run_id=str(meta.get("agentRunId") or "")[:128],
            **kwargs,
            **_warm_kwargs(principal, name),
        )
    except ValidationFailed as exc:
        return _error_result(exc.message, ctx)
    except RateLimited as exc:
        retry = max(exc.retry_after, 0)
        return _error_result(
            f"Rate limited: {exc.message} Retry after {retry:.1f} seconds.",
            ctx,
            retryAfterSeconds=round(retry, 3),
        )
    except ServiceUnavailable as exc:
        raise JsonRpcError(SERVICE_UNAVAILABLE, exc.message, {"code": exc.code}) from None
    except ProviderError as exc:
        relayed = _relayed_protocol_error(exc)
        if relayed is not None:
            raise relayed from None
        return _error_result(f"{name} failed: {exc.message}", ctx, **_provider_meta(exc))
    except ApplicationError as exc:
        # no_active_account, account_expired, not_found, permission_denied, …: the agent (and
        # the user behind it) can act on these, so they are tool results, not protocol errors.
        return _error_result(f"{name} failed: {exc.message}", ctx, errorCode=exc.code)
    except Exception:
        logger.exception("tools/call %s failed unexpectedly", name)
        raise JsonRpcError(INTERNAL_ERROR, "Internal error while calling the tool") from None

    result = execution.result
    payload: dict[str, Any] = {"content": list(result.content), "isError": bool(result.is_error)}
    if result.structured is not None:
        payload["structuredContent"] = result.structured
    return payload


def _warm_kwargs(principal: Principal, name: str) -> dict[str, Any]:
    """What the warm path read already, so ``tool_execute`` makes no ORM read of its own."""
    warm = principal.warm
    if warm is None:
        return {}
    from gateway.execution.core import Prepared
    from gateway.warm.audit import writer

    indexed = warm.index.by_name[name]
    return {
        "prepared": Prepared(
            connection=indexed.exposed.connection,
            definition=indexed.exposed.definition,
            urls=indexed.urls,
            tenant_limit=warm.tenant_limit,
            user_limit=warm.user_limit,
            config_limit=warm.config_limit,
            store_arguments=warm.store_arguments,
        ),
        "validator": indexed.validator,
        "writer": writer().write,
    }


def _provider_meta(exc: ProviderError) -> dict[str, Any]:
    meta: dict[str, Any] = {"errorCode": exc.code}
    if exc.provider_status is not None:
        meta["providerStatus"] = exc.provider_status
    if exc.retry_after is not None:
        meta["retryAfterSeconds"] = exc.retry_after
    return meta


def _relayed_protocol_error(exc: ProviderError) -> JsonRpcError | None:
    """An upstream JSON-RPC error about the agent's own request, relayed as that error.

    ``tool_execute`` re-raises only those (``CLIENT_VISIBLE_JSONRPC_CODES``, e.g. -32021: the
    tool needs a client capability the request did not declare); every other upstream failure
    is an ``isError`` result.
    """
    from gateway.execution.core import CLIENT_VISIBLE_JSONRPC_CODES

    code = exc.details.get("jsonrpc_code")
    if code not in CLIENT_VISIBLE_JSONRPC_CODES:
        return None
    message = redact(str(exc.details.get("jsonrpc_message") or exc.message))
    return JsonRpcError(code, message, exc.details.get("jsonrpc_data"))


def _progress_forwarder(notify: Notify, token: str | int) -> Callable[..., Awaitable[None]]:
    async def forward(progress: float, total: float | None = None, message: str | None = None):
        params: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await notify(notification_message("notifications/progress", params))

    return forward


def _log_forwarder(notify: Notify, level: str) -> Callable[..., Awaitable[None]]:
    threshold = LOG_LEVELS.index(level)

    async def forward(params: dict[str, Any]) -> None:
        if params.get("level") in LOG_LEVELS and LOG_LEVELS.index(params["level"]) >= threshold:
            await notify(notification_message("notifications/message", params))

    return forward


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
