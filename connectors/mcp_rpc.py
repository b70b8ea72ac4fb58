"""One JSON-RPC request to an upstream MCP server on the stateless 2026-07-28 wire, without the SDK.

On that wire a request is self-contained: one POST carrying the protocol version, client info
and capabilities in ``params._meta`` and the routing headers (``MCP-Protocol-Version``,
``Mcp-Method``, ``Mcp-Name``); no session, no handshake. So a plain call needs no ``mcp``
``Client`` session (its dispatcher, task groups, stream pairs and pydantic round trips cost more
CPU than the call): ``call`` stamps the request, POSTs it through the SSRF-guarded egress
transport (``vmcp_platform.egress.upstream.upstream_post``: connect-time address check, size
cap, identity encoding, no redirects), and reads the answer, a JSON body or an SSE stream (the
final response; notifications in between go to ``on_notification``). It returns the JSON-RPC
``result`` unchanged, whatever its ``resultType`` (an ``input_required`` result passes through
to the caller as a result). Every failure becomes the same ``ProviderError`` the SDK path gives
(``mcp_common.provider_error``: a JSON-RPC error keeps its code and data, a 401/403 keeps its
status and challenge, another bare HTTP error status is reported as the SDK reports it).

Who uses it is the caller's choice (``mcp_upstream.call_tool``): the SDK stays for legacy
(2025-11-25) sessions, progress and log relaying, tools with invalid ``x-mcp-header``
annotations, and for the first call to a server whose era is not known yet. A tool's
``Mcp-Param-*`` headers come from ``mcp_direct`` in ``headers``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import encode_header_value

from connectors.mcp_common import challenge_of, provider_error
from vmcp_platform.egress.upstream import upstream_post
from vmcp_platform.errors import ProviderError
from vmcp_platform.observability import tracing

logger = logging.getLogger(__name__)

MODERN_VERSION = "2026-07-28"
CLIENT_INFO = {"name": "vmcp", "version": "1.0.0"}
# What the SDK client advertises with no sampling/elicitation/roots callbacks (the pooled path's
# configuration): nothing. A call that needs a client capability gets -32021, relayed as today.
CLIENT_CAPABILITIES: dict[str, Any] = {}
# Methods whose ``params`` value is mirrored into ``Mcp-Name`` (the SDK's NAME_BEARING_METHODS).
_NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
# The SDK's stand-ins for a bare HTTP error status (no JSON-RPC error in the body).
_METHOD_NOT_FOUND = -32601
_INTERNAL_ERROR = -32603
_INVALID_REQUEST = -32600
_PARSE_ERROR = -32700

Notification = Callable[[dict[str, Any]], Awaitable[None]]

_ids = itertools.count(1)


class _Refused(Exception):
    """The response is not a usable answer; carries the JSON-RPC error the SDK would report."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.error = MCPError(code, message)


async def call(
    server_url: str,
    method: str,
    params: dict[str, Any],
    headers: dict[str, str],
    *,
    timeout: float,
    protocol_version: str = MODERN_VERSION,
    on_notification: Notification | None = None,
) -> dict[str, Any]:
    """The upstream's ``result`` for ``method``; ``ProviderError`` for anything else.

    ``headers`` are the connection's own (its credential); they never reach an error message.
    """
    if tracing.ENABLED:
        with _client_span(method, params) as span_meta:
            return await _call(
                server_url, method, params, headers, timeout, protocol_version, on_notification,
                span_meta,
            )  # fmt: skip
    return await _call(
        server_url, method, params, headers, timeout, protocol_version, on_notification, {}
    )


@contextmanager
def _client_span(method: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """As the SDK's dispatcher: a client span per request, its context in ``_meta`` (SEP-414;
    the egress client mirrors it into the ``traceparent`` header)."""
    from opentelemetry.propagate import inject
    from opentelemetry.trace import SpanKind, get_tracer

    target = params.get("name")
    name = f"MCP send {method}{f' {target}' if isinstance(target, str) else ''}"
    with get_tracer("vmcp.mcp_rpc").start_as_current_span(
        name, kind=SpanKind.CLIENT, attributes={"mcp.method.name": method}
    ):
        carrier: dict[str, Any] = {}
        inject(carrier)
        yield carrier


async def _call(
    server_url: str,
    method: str,
    params: dict[str, Any],
    headers: dict[str, str],
    timeout: float,
    protocol_version: str,
    on_notification: Notification | None,
    span_meta: dict[str, Any],
) -> dict[str, Any]:
    request_id = next(_ids)
    meta = dict(params.get("_meta") or {})
    meta.update(span_meta)
    meta["io.modelcontextprotocol/protocolVersion"] = protocol_version
    meta["io.modelcontextprotocol/clientInfo"] = CLIENT_INFO
    meta["io.modelcontextprotocol/clientCapabilities"] = CLIENT_CAPABILITIES
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {**params, "_meta": meta},
    }
    wire_headers = {
        **headers,
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": protocol_version,
        "mcp-method": method,
    }
    name_key = _NAME_PARAM.get(method)
    if name_key is not None and isinstance(name := params.get(name_key), str):
        wire_headers["mcp-name"] = encode_header_value(name)
    guard: Any = None
    try:
        async with asyncio.timeout(timeout):
            # OPT_NON_STR_KEYS is not set: a non-string key is a bug, refused like json.dumps.
            content = orjson.dumps(body)
            response, guard = await upstream_post(
                server_url, headers=wire_headers, content=content, timeout=timeout
            )
            try:
                message = await _answer(response, request_id, on_notification)
            finally:
                await response.aclose()
    except _Refused as exc:
        raise provider_error(exc.error, guard=guard or _NO_GUARD, timeout=timeout) from None
    except ProviderError:
        raise
    except Exception as exc:
        guard = guard or getattr(exc, "guard", None) or _NO_GUARD
        raise provider_error(exc, guard=guard, timeout=timeout) from None
    error = message.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            raise ProviderError("the upstream MCP server returned a malformed error")
        refused = MCPError(error["code"], str(error.get("message", "")), error.get("data"))
        raise provider_error(refused, guard=guard, timeout=timeout)
    result = message.get("result")
    if not isinstance(result, dict):
        raise ProviderError("the upstream MCP server returned a malformed result")
    return result


async def _answer(
    response: Any, request_id: int, on_notification: Notification | None
) -> dict[str, Any]:
    status = response.status_code
    content_type = response.headers.get("content-type", "").lower()
    if status in (401, 403):
        # As the SDK path reports it (the guard records the refusal there): the status and the
        # Bearer challenge, so a 401 expires the account and a step-up 403 offers a new link.
        hint = "rejected the credential" if status == 401 else "refused access"
        raise ProviderError(
            f"the upstream MCP server {hint}",
            provider_status=status,
            details=challenge_of(response),
        )
    if status >= 400:
        # As the SDK: a JSON-RPC error in the body wins, else a stand-in for the status.
        if content_type.startswith("application/json"):
            message = _parse(await _read(response), strict=False)
            if isinstance(message, dict) and isinstance(message.get("error"), dict):
                return {"error": message["error"]}
        if status == 404:
            raise _Refused(_METHOD_NOT_FOUND, "Not Found")
        raise _Refused(_INTERNAL_ERROR, "Server returned an error response")
    if status == 202 or 300 <= status < 400:
        raise _Refused(_INVALID_REQUEST, "the server did not answer the request")
    if content_type.startswith("application/json"):
        message = _parse(await _read(response), strict=True)
        if not isinstance(message, dict) or message.get("id") != request_id:
            raise _Refused(_PARSE_ERROR, "Failed to parse JSON response")
        return message
    if content_type.startswith("text/event-stream"):
        return await _from_stream(response, request_id, on_notification)
    raise _Refused(_INVALID_REQUEST, f"Unexpected content type: {content_type[:100]}")


async def _read(response: Any) -> bytes:
    chunks = [chunk async for chunk in response.stream]  # the size guard's bounded stream
    return b"".join(chunks)


def _parse(raw: bytes, *, strict: bool) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        if strict:
            raise _Refused(_PARSE_ERROR, "Failed to parse JSON response") from None
        return None


async def _from_stream(
    response: Any, request_id: int, on_notification: Notification | None
) -> dict[str, Any]:
    """The response to ``request_id`` from an SSE body; notifications before it are relayed.

    Events are parsed per the SSE rules that matter here: ``data:`` lines of one event are
    joined with newlines, an empty line ends the event, comments and other fields are ignored;
    CR, LF and CRLF all end a line.
    """
    pending: list[bytes] = []  # the unfinished line, in pieces (a big event spans many chunks)
    data: list[bytes] = []
    async for chunk in response.stream:
        if b"\n" not in chunk and b"\r" not in chunk:
            pending.append(chunk)
            continue
        pending.append(chunk)
        text = b"".join(pending)
        # A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
        held = b"\r" if text.endswith(b"\r") else b""
        if held:
            text = text[:-1]
        *lines, rest = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        pending = [rest + held] if rest or held else []
        for line in lines:
            if line:
                field, _, value = line.partition(b":")
                if field == b"data":
                    data.append(value[1:] if value.startswith(b" ") else value)
                continue
            if not data:
                continue
            message = _parse(b"\n".join(data), strict=True)
            data = []
            answer = await _dispatch(message, request_id, on_notification)
            if answer is not None:
                return answer
    raise _Refused(_INTERNAL_ERROR, "the server closed the stream without answering")


async def _dispatch(
    message: Any, request_id: int, on_notification: Notification | None
) -> dict[str, Any] | None:
    if not isinstance(message, dict):
        raise _Refused(_PARSE_ERROR, "Failed to parse an event of the response stream")
    if "method" not in message:
        if message.get("id") == request_id and ("result" in message or "error" in message):
            return message
        return None  # a response to something else: not ours
    if "id" in message:
        # A server-to-client request on the stateless wire has no way back (2026-07-28 asks
        # with an input_required result instead); the call goes on without it.
        logger.debug("ignored an upstream request (%s) on a stateless call", message["method"])
        return None
    if on_notification is not None:
        await on_notification(message)
    return None


class _NoGuard:
    exceeded = False
    compressed = False
    limit = 0


_NO_GUARD: Any = _NoGuard()
