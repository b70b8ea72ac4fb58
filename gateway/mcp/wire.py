"""What the consumer and its two protocol halves share at the HTTP edge: header names, the
refusal that ends a request with a status, SSE response headers and small helpers."""

from __future__ import annotations

from typing import Any

from .dispatcher import SUPPORTED_VERSIONS
from .jsonrpc import INVALID_REQUEST, UNSUPPORTED_PROTOCOL_VERSION, JsonRpcError, Message

MAX_BODY_BYTES = 4 * 1024 * 1024
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
SUBSCRIPTION_ID_META_KEY = "io.modelcontextprotocol/subscriptionId"
# When a legacy request has no MCP-Protocol-Version header the spec says assume this one.
DEFAULT_LEGACY_VERSION = "2025-03-26"

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


class HttpRefusal(Exception):
    """Ends the request with an HTTP status (and a JSON-RPC-shaped body unless 202/204/405)."""

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        code: int = INVALID_REQUEST,
        request_id: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = JsonRpcError(code, message, data)
        self.request_id = request_id
        self.headers = headers or {}


def encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def has_modern_envelope(message: Message) -> bool:
    meta = message.params.get("_meta")
    return isinstance(meta, dict) and "io.modelcontextprotocol/protocolVersion" in meta


def requested_version(message: Message, header: str) -> str:
    meta = message.params.get("_meta")
    value = meta.get("io.modelcontextprotocol/protocolVersion") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else header


def unsupported(requested: str, request_id: Any) -> HttpRefusal:
    return HttpRefusal(
        400,
        "Unsupported protocol version",
        code=UNSUPPORTED_PROTOCOL_VERSION,
        request_id=request_id,
        data={"supported": list(SUPPORTED_VERSIONS), "requested": requested},
    )
