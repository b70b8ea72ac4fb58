"""One record per MCP request, shared by its metric, its span and its log line.

``McpObserver`` wraps the MCP endpoint (``vmcp_platform.asgi``): it opens the record (and the
request span, honouring the agent's ``traceparent``), sees the status the response starts with,
and when the response ended counts the request, ends the span and writes the JSON log line.
Code further in fills what only it knows with one-line calls: ``note_request(method=…)``,
``note_tenant(slug)``, ``note_wire(modern)``, ``note_error()``, ``note_execution(id)``. Outside
an MCP request (REST ``execute_tool``, Celery) those calls do nothing.

The log line (logger ``vmcp.mcp.request``, only with ``VMCP_LOG_FORMAT=json``) carries the
``execution_id`` that the audit row (``extra["execution_id"]``) and the span
(``vmcp.execution_id``) carry too, so the three join.
"""

from __future__ import annotations

import logging
import re
import time
from contextvars import ContextVar
from typing import Any

from . import metrics, tracing

logger = logging.getLogger("vmcp.mcp.request")

MCP_PATH = re.compile(r"^/t/[^/]+/mcp/")


class RequestInfo:
    __slots__ = ("started", "method", "wire", "tenant", "status", "error", "execution_id")

    def __init__(self, method: str) -> None:
        self.started = time.perf_counter()
        self.method = method
        self.wire = ""
        self.tenant: str | None = None
        self.status = 0
        self.error = False
        self.execution_id = ""


_current: ContextVar[RequestInfo | None] = ContextVar("vmcp_mcp_request", default=None)


def current() -> RequestInfo | None:
    return _current.get()


def note_request(*, method: str) -> None:
    info = _current.get()
    if info is not None:
        info.method = method if method in metrics.KNOWN_METHODS else metrics.OTHER


def note_tenant(slug: str) -> None:
    info = _current.get()
    if info is not None:
        info.tenant = slug


def note_wire(modern: bool) -> None:
    info = _current.get()
    if info is not None:
        info.wire = metrics.MODERN if modern else metrics.LEGACY


def note_error() -> None:
    """A JSON-RPC error answered this request (``gateway.mcp.jsonrpc.error_message``)."""
    info = _current.get()
    if info is not None:
        info.error = True


def note_execution(execution_id: str) -> None:
    """The tool call's execution id (the audit row's ``extra["execution_id"]``)."""
    info = _current.get()
    if info is not None:
        info.execution_id = execution_id
    tracing.set_attribute("vmcp.execution_id", execution_id)


def _wire_from_headers(info: RequestInfo, headers: list[tuple[bytes, bytes]]) -> str:
    if info.wire:
        return info.wire
    version = session = None
    for name, value in headers:
        if name == b"mcp-protocol-version":
            version = value.decode("latin-1")
        elif name == b"mcp-session-id":
            session = value
    if session is not None or info.method == "initialize" or version == metrics.LEGACY:
        return metrics.LEGACY
    if version is not None:
        return metrics.MODERN
    return metrics.NO_WIRE


class McpObserver:
    """ASGI middleware: metrics, span and log line of every request to an MCP endpoint path."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not MCP_PATH.match(scope.get("path", "")):
            return await self.inner(scope, receive, send)
        info = RequestInfo(scope.get("method", "POST"))
        token = _current.set(info)

        async def observed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                info.status = message["status"]
            await send(message)

        span = tracing.start_request(scope) if tracing.ENABLED else None
        try:
            await self.inner(scope, receive, observed_send)
        finally:
            _current.reset(token)
            _finish(info, scope, span)


def _finish(info: RequestInfo, scope: dict[str, Any], span: Any) -> None:
    seconds = time.perf_counter() - info.started
    wire = _wire_from_headers(info, scope.get("headers", []))
    status = info.status or 500
    outcome = "error" if info.error else ("ok" if status < 400 else "refused")
    metrics.count_mcp_request(
        tenant=info.tenant,
        method=info.method,
        wire=wire,
        outcome=outcome,
        status=status,
        seconds=seconds,
    )
    if span is not None:
        tracing.end_request(span, info, wire=wire, outcome=outcome, status=status)
    if _json_lines:
        logger.info(
            "mcp %s %s %s",
            info.method,
            status,
            outcome,
            extra={
                "mcp_method": info.method,
                "wire": wire,
                "status": status,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 2),
                "tenant": info.tenant or "",
                "execution_id": info.execution_id,
                "trace_id": tracing.trace_id_of(span),
            },
        )


_json_lines = False


def configure(*, json_lines: bool) -> None:
    """Whether each MCP request writes its log line (``VMCP_LOG_FORMAT=json``)."""
    global _json_lines
    _json_lines = json_lines
