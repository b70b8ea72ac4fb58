"""``tools/call`` on both wires: sanitise what will be stored, check scope, run, map the outcome.

Every value of the request that reaches an audit row (the tool name, the JSON-RPC id,
``_meta.agentRunId``) is sanitised and bounded here, before anything runs
(``vmcp_platform.sanitize``); ``gateway.execution.core`` documents the rest of the contract
(the record is built before the call; a row the database refuses is spooled).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from vmcp_platform.errors import (
    ApplicationError,
    ProviderError,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from vmcp_platform.logging import redact
from vmcp_platform.observability.tracing import AUTHORIZE, traced
from vmcp_platform.sanitize import is_clean_text, wire_request_id, wire_text

from .context import LOG_LEVEL_META_KEY, LOG_LEVELS, Notify, RequestContext, find_tool
from .jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    JsonRpcError,
    notification_message,
    unavailable,
)
from .rounds import input_required, relay_for

logger = logging.getLogger(__name__)

# No exposed tool name is longer (configs cap names and overrides at 128).
TOOL_NAME_MAX = 128
AGENT_RUN_ID_MAX = 128


def _error_result(text: str, ctx: RequestContext, **meta: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
    if meta:
        result["_meta"] = {f"vmcp/{key}": value for key, value in meta.items()}
    return result


async def _unknown_tool(ctx: RequestContext, name: str, request_id: str) -> JsonRpcError:
    """Audit the refusal (``tool.denied``) and return the error; the name is echoed bounded."""
    from gateway.execution import tool_denial_record

    principal = ctx.principal
    shown = wire_text(name, max_len=TOOL_NAME_MAX)
    try:
        await tool_denial_record(
            tenant=principal.tenant,
            tool_name=shown,
            identifier=principal.identifier,
            actor=principal.actor,
            error_code="unknown_tool",
            config_id=principal.config_id,
            session_token_id=principal.token_id,
            request_id=request_id,
            writer=_warm_writer(principal),
        )
    except ServiceUnavailable as exc:
        return unavailable(exc)
    suffix = "…" if len(name) > TOOL_NAME_MAX else ""
    return JsonRpcError(INVALID_PARAMS, f"Unknown tool: {shown}{suffix}")


def _warm_writer(principal: Any) -> Any:
    if principal.warm is None:
        return None
    from gateway.warm.audit import writer

    return writer().write


def _warm_kwargs(principal: Any, name: str) -> dict[str, Any]:
    """What the warm path read already, so ``tool_execute`` makes no ORM read of its own."""
    warm = principal.warm
    if warm is None:
        return {}
    from gateway.execution.preparation import Prepared

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
            end_user_limit=warm.end_user_limit,
            tool_limit=indexed.tool_limit,
        ),
        "validator": indexed.validator,
        "writer": _warm_writer(principal),
    }


async def tools_call(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
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
    request_id = wire_request_id(ctx.request_id)
    meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
    agent_run_id = wire_text(meta.get("agentRunId") or "", max_len=AGENT_RUN_ID_MAX)

    # Scope is enforced here, not only in tools/list: the call never reaches a provider. A name
    # no exposed tool can have (controls, NUL, oversize) is unknown without a lookup.
    exposed = None
    if is_clean_text(name, max_len=TOOL_NAME_MAX):
        exposed = await traced(AUTHORIZE, find_tool(principal, name))
    if exposed is None:
        raise await _unknown_tool(ctx, name, request_id)

    kwargs: dict[str, Any] = {}
    progress_token = meta.get("progressToken")
    if ctx.notify is not None and isinstance(progress_token, str | int):
        kwargs["progress_callback"] = _progress_forwarder(ctx.notify, progress_token)
    log_level = ctx.log_level or meta.get(LOG_LEVEL_META_KEY)
    if ctx.notify is not None and log_level in LOG_LEVELS:
        kwargs["log_callback"] = _log_forwarder(ctx.notify, log_level)
    relay = relay_for(params, ctx, "tools/call", name)
    if relay is not None:
        kwargs["relay"] = relay

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
            agent_run_id=agent_run_id,
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
        raise unavailable(exc) from None
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
    if result.input_required is not None and ctx.modern:
        return input_required(result.input_required, ctx, "tools/call", name)
    payload: dict[str, Any] = {"content": list(result.content), "isError": bool(result.is_error)}
    if result.structured is not None:
        payload["structuredContent"] = result.structured
    return payload


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
