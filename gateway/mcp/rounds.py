"""SEP-2322 rounds relayed for ``tools/call`` and ``prompts/get``: what goes up, what comes back.

An upstream may answer either request with an ``InputRequiredResult``; the agent answers its
``inputRequests`` and retries the same request with ``inputResponses`` and the echoed
``requestState``. Both methods share this code, so a round is bound the same way for each: the
state is sealed to the caller, the method and the name the agent used (``request_state``), and
a token minted for another method, name, user or config is refused with -32602 before
anything reaches the upstream. (Scope is checked by the caller first, as for any request.)
"""

from __future__ import annotations

from typing import Any

from . import request_state
from .context import RequestContext
from .jsonrpc import INVALID_PARAMS, JsonRpcError


def relay_for(params: dict[str, Any], ctx: RequestContext, method: str, name: str) -> Any:
    """What the upstream may ask the agent's client during this request (``mcp_relay``), or None.

    2025-11-25: only when the response is a stream the consumer can ask on (``ctx.ask``). On
    2026-07-28: one round of SEP-2322, the agent's ``requestState`` opened and checked first
    (tampered, expired or someone else's: -32602 before anything runs).
    """
    from connectors.mcp_relay import Relay, declared, parse_input_responses

    capabilities = declared(ctx.client_capabilities)
    if not ctx.modern:
        if ctx.ask is None or not capabilities:
            return None
        return Relay(capabilities=capabilities, ask=ctx.ask)
    raw_responses = params.get("inputResponses")
    sealed = params.get("requestState")
    if not capabilities and raw_responses is None and sealed is None:
        return None
    upstream_state = None
    if sealed is not None:
        upstream_state = request_state.unseal(ctx.principal, method, name, sealed)
    try:
        responses = parse_input_responses(raw_responses)
    except ValueError as exc:
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: {exc}") from None
    return Relay(capabilities=capabilities, input_responses=responses, request_state=upstream_state)


def input_required(
    upstream: dict[str, Any], ctx: RequestContext, method: str, name: str
) -> dict[str, Any]:
    """The upstream's InputRequiredResult for the agent, its state sealed to this caller."""
    result: dict[str, Any] = {"resultType": "input_required"}
    if isinstance(upstream.get("inputRequests"), dict):
        result["inputRequests"] = upstream["inputRequests"]
    state = upstream.get("requestState")
    if state is not None or "inputRequests" not in result:
        result["requestState"] = request_state.seal(
            ctx.principal, method, name, state if isinstance(state, str) else None
        )
    return result
