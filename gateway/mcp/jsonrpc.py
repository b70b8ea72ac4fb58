"""JSON-RPC 2.0 framing for the MCP endpoint: error codes, messages, SSE frames.

Kept free of Django and of the transport so the dispatcher and the consumer share one
vocabulary. Error ``data`` and messages are shown to agents: never put a secret in them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from vmcp_platform.errors import ServiceUnavailable
from vmcp_platform.observability.request import note_error

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Implementation-defined (-32000..-32019): the platform refused for a reason the agent can act on.
SERVICE_UNAVAILABLE = -32001
RATE_LIMITED = -32002
# Spec-defined by 2026-07-28.
HEADER_MISMATCH = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022

# HTTP status for a JSON-RPC error on the 2026-07-28 wire (the spec's table; unmapped → 200).
MODERN_ERROR_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}

RequestId = str | int


class JsonRpcError(Exception):
    """Raised by the dispatcher; the consumer turns it into a JSON-RPC error response."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def unavailable(exc: ServiceUnavailable) -> JsonRpcError:
    """A dependency the decision needs is down: -32001 with the refusal's own code."""
    return JsonRpcError(SERVICE_UNAVAILABLE, exc.message, {"code": exc.code})


@dataclass(frozen=True)
class Message:
    """One parsed JSON-RPC message from a POST body."""

    raw: dict[str, Any]

    @property
    def is_request(self) -> bool:
        return "method" in self.raw and "id" in self.raw

    @property
    def is_notification(self) -> bool:
        return "method" in self.raw and "id" not in self.raw

    @property
    def is_response(self) -> bool:
        return "method" not in self.raw and ("result" in self.raw or "error" in self.raw)

    @property
    def id(self) -> RequestId | None:
        value = self.raw.get("id")
        return value if isinstance(value, str | int) and not isinstance(value, bool) else None

    @property
    def method(self) -> str:
        return self.raw.get("method", "")

    @property
    def params(self) -> dict[str, Any]:
        params = self.raw.get("params")
        return params if isinstance(params, dict) else {}


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: Infinity in Python, refused by PostgreSQL's jsonb
        raise ValueError("non-finite number")
    return number


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN / Infinity: Python's extension, not JSON


def parse_message(body: bytes) -> Message:
    """Decode one JSON-RPC message; a batch or a malformed envelope is an invalid request.

    Strict JSON: NaN, Infinity and numbers that overflow to infinity are refused as a parse
    error, since no such value could be stored in an audit row.
    """
    try:
        decoded = json.loads(body, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise JsonRpcError(PARSE_ERROR, "Parse error: the body is not valid JSON") from None
    if isinstance(decoded, list):
        raise JsonRpcError(
            INVALID_REQUEST, "Batches are not supported: send one JSON-RPC message per request"
        )
    if not isinstance(decoded, dict) or decoded.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, "Invalid request: expected one JSON-RPC 2.0 object")
    message = Message(decoded)
    if "method" in decoded:
        if not isinstance(decoded["method"], str):
            raise JsonRpcError(INVALID_REQUEST, "Invalid request: method must be a string")
        if "id" in decoded and message.id is None:
            raise JsonRpcError(INVALID_REQUEST, "Invalid request: id must be a string or number")
        if "params" in decoded and not isinstance(decoded["params"], dict):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: params must be an object")
    elif not message.is_response:
        raise JsonRpcError(
            INVALID_REQUEST, "Invalid request: not a request, notification or response"
        )
    return message


def result_message(request_id: RequestId | None, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_message(request_id: RequestId | None, error: JsonRpcError) -> dict[str, Any]:
    note_error()  # the request's outcome (metrics, span, log line) is "error"
    return {"jsonrpc": "2.0", "id": request_id, "error": error.as_error()}


def notification_message(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def dumps(message: dict[str, Any]) -> bytes:
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (an id or name sent as "\ud800") has no UTF-8 form: escape it.
        return json.dumps(message, separators=(",", ":")).encode()


def sse_event(message: dict[str, Any], *, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: message\ndata: ".encode() + dumps(message) + b"\n\n"


SSE_KEEPALIVE = b": keepalive\n\n"
