"""What an upstream MCP server asks the agent's client during a tool call, relayed both ways.

An upstream may need the client mid-call: ``sampling/createMessage`` (the agent's model),
``elicitation/create`` (the user, form or URL mode) or ``roots/list``. The gateway forwards
those to the agent's own client, so the upstream session declares exactly the capabilities the
agent's client declared (``Relay.capabilities``): a client that cannot answer is never asked,
and the upstream answers the call with its own error (e.g. -32021) rather than waiting.

How the answer comes back depends on the agent's wire, and ``Relay`` carries either:

* ``ask`` (the 2025-11-25 wire): a coroutine that sends one request to the agent's client on
  the call's SSE stream and returns its result. It serves both the upstream's standalone
  requests and, through the SDK's multi-round-trip driver, an upstream ``InputRequiredResult``.
* ``input_responses`` / ``request_state`` (the 2026-07-28 wire): one round of SEP-2322. The
  upstream's ``InputRequiredResult`` is handed back (``ToolResult.input_required``) for the
  agent to answer and retry; the state it carries is the upstream's own, which the gateway seals
  before it leaves and verifies when it returns (``gateway.mcp.request_state``).

A ``prompts/get`` on the 2026-07-28 wire takes the same rounds (``mcp_features.get_prompt``).

The upstream session of a relayed call declares that call's capabilities and no one else's.
It is either the call's own, or, for an upstream known to speak 2026-07-28, the pooled session
of that end user and capability set, whose callbacks answer for the call in whose context they
run (``routed_options``). Either way nothing one call asks can reach another call's client.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp_types import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    CreateMessageResult,
    CreateMessageResultWithTools,
    ElicitResult,
    ErrorData,
    InputResponses,
    ListRootsResult,
)
from pydantic import TypeAdapter, ValidationError

RELAYABLE = ("sampling", "elicitation", "roots")

Ask = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class RelayRefused(Exception):
    """The agent's client answered a relayed request with a JSON-RPC error (or could not)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


@dataclass(frozen=True)
class Relay:
    capabilities: frozenset[str]
    ask: Ask | None = None
    input_responses: InputResponses | None = None
    request_state: str | None = None

    @property
    def rounds(self) -> bool:
        """The 2026-07-28 wire: input requests go back to the agent as a result."""
        return self.ask is None


_INPUT_RESPONSES: TypeAdapter[InputResponses] = TypeAdapter(InputResponses)


def parse_input_responses(raw: Any) -> InputResponses | None:
    """The agent's ``inputResponses``; raises ``ValueError`` on a malformed map."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("inputResponses must be an object")
    try:
        return _INPUT_RESPONSES.validate_python(raw)
    except ValidationError:
        raise ValueError("inputResponses holds an entry that is not a valid response") from None


def _dump(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    return params.model_dump(by_alias=True, exclude_none=True, mode="json")


async def _forward(relay: Relay, method: str, params: Any, *result_types: Any) -> Any:
    if relay.ask is None:
        # The 2026-07-28 wire has no stream to ask on mid-call: only an upstream that answers
        # with an InputRequiredResult can be relayed there.
        return ErrorData(
            code=INVALID_REQUEST,
            message=f"{method} cannot be relayed mid-call on the 2026-07-28 wire",
        )
    payload = _dump(params)
    if payload.get("mode") == "url" and "elicitationId" not in payload:
        # A 2026-07-28 upstream names a URL elicitation by its input key, not by an id; the
        # 2025-11-25 client requires one (for notifications/elicitation/complete).
        payload["elicitationId"] = str(uuid.uuid4())
    try:
        answer = await relay.ask(method, payload)
    except RelayRefused as exc:
        return ErrorData(code=exc.code, message=exc.message, data=exc.data)
    for result_type in result_types:
        try:
            return result_type.model_validate(answer)
        except ValidationError:
            continue
    return ErrorData(code=INTERNAL_ERROR, message=f"the client's {method} answer was malformed")


def client_options(relay: Relay) -> dict[str, Any]:
    """``mcp.Client`` callbacks for what the agent's client declared, and only that."""
    return _callbacks(relay.capabilities, lambda: relay)


def routed_options(capabilities: frozenset[str]) -> dict[str, Any]:
    """Callbacks for a pooled session: each answers for the call running in its context.

    Only for upstreams on the 2026-07-28 wire: there the SDK dispatches an
    ``InputRequiredResult``'s requests from inside the ``call_tool`` of the call that got it,
    so the context (``current``) names that call's relay and no other. A handshake-era upstream
    sends its requests on the session's own reader task, which belongs to no call; those calls
    get a session of their own instead (``mcp_upstream``).
    """
    return _callbacks(capabilities, _current.get)


@contextmanager
def current(relay: Relay | None) -> Iterator[None]:
    token = _current.set(relay)
    try:
        yield
    finally:
        _current.reset(token)


_current: ContextVar[Relay | None] = ContextVar("vmcp_mcp_relay", default=None)


def _callbacks(capabilities: frozenset[str], relay_of: Callable[[], Relay | None]) -> dict:
    async def forward(method: str, params: Any, *result_types: Any) -> Any:
        relay = relay_of()
        if relay is None:
            return ErrorData(code=INVALID_REQUEST, message=f"{method} is not expected here")
        return await _forward(relay, method, params, *result_types)

    options: dict[str, Any] = {}
    if "sampling" in capabilities:

        async def sampling(context: Any, params: Any) -> Any:
            return await forward(
                "sampling/createMessage", params, CreateMessageResult, CreateMessageResultWithTools
            )

        options["sampling_callback"] = sampling
    if "elicitation" in capabilities:

        async def elicitation(context: Any, params: Any) -> Any:
            return await forward("elicitation/create", params, ElicitResult)

        options["elicitation_callback"] = elicitation
    if "roots" in capabilities:

        async def roots(context: Any) -> Any:
            return await forward("roots/list", None, ListRootsResult)

        options["list_roots_callback"] = roots
    return options


def declared(capabilities: dict[str, Any]) -> frozenset[str]:
    """The relayable capabilities a client declared (``initialize`` or the request's _meta)."""
    return frozenset(name for name in RELAYABLE if isinstance(capabilities.get(name), dict))
