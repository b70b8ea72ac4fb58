"""OpenTelemetry traces: off by default, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

``setup()`` (run once when ``vmcp_platform.asgi`` is imported) installs the SDK's tracer
provider with a batching OTLP/HTTP exporter; the exporter reads the standard variables itself
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_BSP_SCHEDULE_DELAY``, …). Without the endpoint nothing is imported and every helper
returns at its first line, ``if not ENABLED`` (measured in the README: < 1 µs a call).

The tree of one MCP request: ``vmcp.mcp <method>`` (SERVER, a child of the agent's W3C
``traceparent`` when it sent one), with children ``vmcp.authorize`` (scope check),
``vmcp.rate_limit``, ``vmcp.credential`` (vault), ``vmcp.provider`` (the provider or upstream
call; the ``mcp`` SDK adds its own ``MCP send tools/call`` client span under it for upstream
servers) and ``vmcp.audit`` (the row's insert).

Propagation to upstream MCP servers: the SDK writes the current context into the request's
``params._meta.traceparent`` (SEP-414); ``inject_upstream`` copies it into the HTTP
``traceparent`` header too. The body is the source of truth because a pooled upstream session
sends from its own task, whose ambient context is that of whichever call opened the session.
Built-in providers (Google, Slack, GitHub) are not sent a ``traceparent``: it would only hand
our trace ids to a third party.

Attributes carry nothing secret: method, wire, status, tenant slug, connector type, the
execution id (a random UUID, which joins the audit row and the JSON log line) — never a token,
an identifier, a tool argument or a config/token id.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

ENABLED = False
_tracer: Any = None
_provider: Any = None

AUTHORIZE = "vmcp.authorize"
RATE_LIMIT = "vmcp.rate_limit"
CREDENTIAL = "vmcp.credential"
PROVIDER = "vmcp.provider"
AUDIT = "vmcp.audit"

_TRACEPARENT_IN_BODY = re.compile(
    rb'"traceparent"\s*:\s*"(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"'
)


def setup(*, exporter: Any = None) -> bool:
    """Install the tracer provider if tracing is configured (or ``exporter`` is given: tests)."""
    global ENABLED, _tracer, _provider
    if ENABLED:
        return True
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "vmcp")})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = trace.get_tracer("vmcp")
    ENABLED = True
    return True


def shutdown() -> None:
    if _provider is not None:
        _provider.shutdown()


class _NoSpan:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_NO_SPAN = _NoSpan()


def span(name: str, **attributes: Any) -> Any:
    """A child span of the current one, as a context manager (a shared no-op when off)."""
    if not ENABLED:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes or None)


async def traced(name: str, awaitable: Awaitable[T], **attributes: Any) -> T:
    """``await awaitable`` inside a span ``name``: the one-line form for the call sites."""
    if not ENABLED:
        return await awaitable
    with _tracer.start_as_current_span(name, attributes=attributes or None):
        return await awaitable


def set_attribute(key: str, value: Any) -> None:
    if not ENABLED:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attribute(key, value)


# ---------------------------------------------------------------- the request span


class _RequestSpan:
    __slots__ = ("span", "token")

    def __init__(self, span: Any, token: Any) -> None:
        self.span, self.token = span, token


def start_request(scope: dict[str, Any]) -> _RequestSpan:
    """Open the request's SERVER span under the agent's ``traceparent`` and make it current."""
    from opentelemetry import context, trace
    from opentelemetry.propagate import extract

    carrier = {}
    for name, value in scope.get("headers", []):
        if name in (b"traceparent", b"tracestate"):
            carrier[name.decode()] = value.decode("latin-1")
    parent = extract(carrier) if carrier else None
    request_span = _tracer.start_span("vmcp.mcp", context=parent, kind=trace.SpanKind.SERVER)
    token = context.attach(trace.set_span_in_context(request_span, parent))
    return _RequestSpan(request_span, token)


def end_request(handle: _RequestSpan, info: Any, *, wire: str, outcome: str, status: int) -> None:
    from opentelemetry import context
    from opentelemetry.trace import StatusCode

    request_span = handle.span
    request_span.update_name(f"vmcp.mcp {info.method}")
    request_span.set_attributes(
        {
            "mcp.method.name": info.method,
            "mcp.protocol.version": wire,
            "http.response.status_code": status,
            "vmcp.outcome": outcome,
            "vmcp.tenant": info.tenant or "",
        }
    )
    if info.execution_id:
        request_span.set_attribute("vmcp.execution_id", info.execution_id)
    if status >= 500:
        request_span.set_status(StatusCode.ERROR)
    request_span.end()
    try:
        context.detach(handle.token)
    except ValueError:  # detached in another context (a cancelled task): nothing to restore
        pass


def trace_id_of(handle: _RequestSpan | None) -> str:
    if handle is None:
        return ""
    return format(handle.span.get_span_context().trace_id, "032x")


# ---------------------------------------------------------------- upstream propagation


def inject_upstream(request: Any) -> None:
    """Give a request to an upstream MCP server the ``traceparent`` of the call it serves."""
    if not ENABLED:
        return
    try:
        body = request.content
    except Exception:  # noqa: BLE001 - a streaming body: nothing to read it from
        body = b""
    found = _TRACEPARENT_IN_BODY.search(body) if body else None
    if found is not None:
        request.headers["traceparent"] = found[1].decode()
        return
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    if "traceparent" in carrier:
        request.headers["traceparent"] = carrier["traceparent"]
