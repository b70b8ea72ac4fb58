"""Prompts, resources and completion on both wires: answered from the config's allowed set only.

``*/list`` answers from what the connections' last sync discovered, filtered by the mappings
(``configs.features``), as ``tools/list`` does. ``resources/read``, ``prompts/get`` and
``completion/complete`` (and the subscriptions, in ``subscribing``) check scope on every
request, then go to the upstream with that end user's credential through
``gateway.execution.features`` (audited like tool calls). Anything the config does not expose
gets the same answer as something that does not exist at all, and the refusal is audited. On
2026-07-28 an upstream prompt may ask the user first: ``prompts/get`` then takes SEP-2322
rounds exactly as ``tools/call`` does (``rounds``).
"""

from __future__ import annotations

from typing import Any

from django_tenants.utils import tenant_context

from vmcp_platform.errors import ApplicationError, ProviderError, RateLimited, ServiceUnavailable
from vmcp_platform.logging import redact
from vmcp_platform.sanitize import wire_request_id, wire_text

from .context import Principal, RequestContext
from .cursors import decode_cursor, encode_cursor
from .jsonrpc import (
    INVALID_PARAMS,
    RATE_LIMITED,
    JsonRpcError,
    unavailable,
)
from .rounds import input_required, relay_for

PAGE_SIZE = 100
URI_MAX = 2048
NAME_MAX = 128
# Implementation-defined: the upstream failed, or the platform refused before reaching it
# (no active account, …); ``data.code`` says which.
UPSTREAM_FAILED = -32003
MAX_ARGUMENTS = 50
ARGUMENT_MAX = 10_000


# ---------------------------------------------------------------- what the config exposes


def _exposure(principal: Principal) -> Any:
    from configs.features import config_exposure

    with tenant_context(principal.tenant):
        return config_exposure(principal.config)


async def find_exposure(principal: Principal) -> Any:
    """The config's prompts/resources/templates, read fresh (a mapping edit applies at once)."""
    from gateway.execution.db import run_db

    return await run_db(_exposure, principal)


async def exposure_capabilities(principal: Principal) -> dict[str, Any]:
    """The ``prompts``/``resources``/``completions`` capabilities the mappings justify."""
    return (await find_exposure(principal)).capabilities()


# ---------------------------------------------------------------- lists


def _page(items: list[dict[str, Any]], key: str, params: dict[str, Any]) -> dict[str, Any]:
    cursor = params.get("cursor")
    offset = 0
    if cursor is not None:
        offset = decode_cursor(key, cursor)
        if offset > len(items):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    result: dict[str, Any] = {key: items[offset : offset + PAGE_SIZE]}
    if offset + PAGE_SIZE < len(items):
        result["nextCursor"] = encode_cursor(key, offset + PAGE_SIZE)
    return result


async def prompts_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    exposure = await find_exposure(ctx.principal)
    return _page([dict(p.definition) for p in exposure.prompts], "prompts", params)


async def resources_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    exposure = await find_exposure(ctx.principal)
    return _page([dict(r.definition) for r in exposure.resources], "resources", params)


async def resource_templates_list(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    exposure = await find_exposure(ctx.principal)
    return _page([dict(t.definition) for t in exposure.templates], "resourceTemplates", params)


# ---------------------------------------------------------------- relayed requests


def _record(ctx: RequestContext, method: str, target: str, connection_name: str) -> Any:
    from gateway.execution.features import feature_record

    return feature_record(
        tenant=ctx.principal.tenant,
        principal=ctx.principal,
        method=method,
        target=target,
        connection_name=connection_name,
        request_id=wire_request_id(ctx.request_id),
    )


async def refuse(
    ctx: RequestContext, method: str, target: str, error_code: str, error: JsonRpcError
) -> JsonRpcError:
    """Audit a request for something not exposed (``tool.denied``); returns the error."""
    from gateway.execution.features import feature_denied

    not_found = ApplicationError(error.message, code=error_code, status=404)
    try:
        await feature_denied(_record(ctx, method, target, ""), not_found, error_code)
    except ServiceUnavailable as exc:
        return unavailable(exc)
    return error


def resource_not_found(uri: Any) -> JsonRpcError:
    # SEP-2164: -32602 with the URI in data; echoed bounded and cleaned.
    shown = wire_text(uri, max_len=URI_MAX) if isinstance(uri, str) else uri
    return JsonRpcError(INVALID_PARAMS, "Resource not found", {"uri": shown})


def _prompt_not_found(name: Any) -> JsonRpcError:
    shown = wire_text(name, max_len=NAME_MAX) if isinstance(name, str) else ""
    return JsonRpcError(INVALID_PARAMS, f"Unknown prompt: {shown}")


async def relay(
    ctx: RequestContext, method: str, target: str, connection: Any, request: Any
) -> dict[str, Any]:
    from gateway.execution.features import feature_execute

    call = _record(ctx, method, target, connection.name)
    try:
        result = await feature_execute(
            call=call,
            connection_name=connection.name,
            method=method,
            target=target,
            request=request,
        )
    except RateLimited as exc:
        retry = round(max(exc.retry_after, 0), 3)
        raise JsonRpcError(RATE_LIMITED, exc.message, {"retryAfterSeconds": retry}) from None
    except ServiceUnavailable as exc:
        raise unavailable(exc) from None
    except ProviderError as exc:
        code = exc.details.get("jsonrpc_code")
        if isinstance(code, int):
            # The upstream's own JSON-RPC answer (e.g. -32602 for a URI its template matches
            # but it does not have): relayed as that error, its message redacted.
            message = redact(str(exc.details.get("jsonrpc_message") or exc.message))
            raise JsonRpcError(code, message, exc.details.get("jsonrpc_data")) from None
        raise JsonRpcError(UPSTREAM_FAILED, exc.message, {"code": exc.code}) from None
    except ApplicationError as exc:
        # no_active_account, account_expired, …: the agent (and its user) can act on these.
        raise JsonRpcError(UPSTREAM_FAILED, exc.message, {"code": exc.code}) from None
    # The upstream's era marker is not ours to relay: the dispatcher sets our own. Only a
    # round sent as SEP-2322 (``rounds.relay_for``, 2026-07-28) can come back input_required;
    # it goes to the agent with its state sealed to this caller, ``method`` and ``target``.
    if result.pop("resultType", None) == "input_required":
        if not ctx.modern:
            raise JsonRpcError(
                UPSTREAM_FAILED,
                "The upstream asked for input that cannot be relayed here",
                {"code": "input_not_relayed"},
            )
        return input_required(result, ctx, method, target)
    return result


def uri_param(params: dict[str, Any]) -> str:
    uri = params.get("uri")
    if not isinstance(uri, str) or not uri:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: uri must be a non-empty string")
    return uri


async def resources_read(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    from configs.features import exposure_resource
    from connectors import mcp_features

    uri = uri_param(params)
    exposed = exposure_resource(await find_exposure(ctx.principal), uri)
    if exposed is None:
        raise await refuse(ctx, "resources/read", uri, "unknown_resource", resource_not_found(uri))

    async def request(server_url: str, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        return await mcp_features.read_resource(
            server_url=server_url, headers=headers, uri=uri, timeout=timeout
        )

    return await relay(ctx, "resources/read", uri, exposed.connection, request)


def _string_map(raw: Any, what: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, dict)
        or len(raw) > MAX_ARGUMENTS
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= ARGUMENT_MAX
            for k, v in raw.items()
        )
    ):
        raise JsonRpcError(
            INVALID_PARAMS,
            f"Invalid params: {what} must be an object of at most {MAX_ARGUMENTS} strings",
        )
    return dict(raw)


async def prompts_get(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    from configs.features import exposure_prompt
    from connectors import mcp_features

    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: name must be a non-empty string")
    arguments = _string_map(params.get("arguments"), "arguments")
    exposed = exposure_prompt(await find_exposure(ctx.principal), name)
    if exposed is None:
        raise await refuse(ctx, "prompts/get", name, "unknown_prompt", _prompt_not_found(name))
    # A retry's requestState is opened (and a foreign one refused) after the scope check, as
    # for tools/call: bound to the name the agent sees, not the upstream's.
    round_relay = relay_for(params, ctx, "prompts/get", name)

    async def request(server_url: str, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        return await mcp_features.get_prompt(
            server_url=server_url,
            headers=headers,
            name=exposed.prompt_name,  # the upstream's own name, whatever the agent sees
            arguments=arguments,
            timeout=timeout,
            relay=round_relay,
        )

    return await relay(ctx, "prompts/get", name, exposed.connection, request)


async def completion_complete(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    from configs.features import exposure_prompt, exposure_template
    from connectors import mcp_features

    ref = params.get("ref")
    argument = params.get("argument")
    if not isinstance(ref, dict) or ref.get("type") not in ("ref/prompt", "ref/resource"):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: ref must be a prompt or resource ref")
    if (
        not isinstance(argument, dict)
        or not isinstance(argument.get("name"), str)
        or not isinstance(argument.get("value"), str)
        or len(argument["value"]) > ARGUMENT_MAX
    ):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: argument must be {name, value}")
    context = params.get("context")
    context_arguments = _string_map(
        context.get("arguments") if isinstance(context, dict) else None, "context.arguments"
    )
    exposure = await find_exposure(ctx.principal)
    if ref["type"] == "ref/prompt":
        target = ref.get("name")
        exposed = exposure_prompt(exposure, target) if isinstance(target, str) else None
        error = _prompt_not_found(target)
    else:
        target = ref.get("uri")
        exposed = exposure_template(exposure, target) if isinstance(target, str) else None
        error = resource_not_found(target)
    if exposed is None:
        shown = target if isinstance(target, str) else ""
        raise await refuse(ctx, "completion/complete", shown, "unknown_reference", error)
    if ref["type"] == "ref/prompt":
        clean_ref = {"type": "ref/prompt", "name": exposed.prompt_name}  # the upstream's name
    else:
        clean_ref = {"type": "ref/resource", "uri": target}
    clean_argument = {"name": argument["name"], "value": argument["value"]}

    async def request(server_url: str, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        return await mcp_features.complete(
            server_url=server_url,
            headers=headers,
            ref=clean_ref,
            argument=clean_argument,
            context_arguments=context_arguments,
            timeout=timeout,
        )

    return await relay(ctx, "completion/complete", str(target), exposed.connection, request)
