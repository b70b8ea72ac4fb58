"""Every Prometheus metric of vmcp, and the small helpers the call sites use (one line each).

Cardinality and privacy — how every label is bounded:

* ``tenant``: the tenant's *slug* (never its id), but only for the first
  ``VMCP_METRICS_MAX_TENANTS`` (default 100) distinct tenants a process sees; every later one is
  counted as ``other``. ``0`` drops the tenant dimension (all ``-``). Only a tenant that was
  resolved from the database is named: a slug an unknown URL carries never becomes a label.
* ``connector``: the connector *type* (``gmail``, ``slack``, ``mcp``, ``openapi``, …: the
  built-in catalogue), never the admin-chosen connection name.
* ``method``: one of the MCP methods vmcp serves (``KNOWN_METHODS``), else ``other``; a
  request refused before its body was read is its HTTP method (``GET``/``POST``/``DELETE``).
* ``wire``: ``2026-07-28``, ``2025-11-25`` or ``none`` (refused before the wire was known).
* ``status``: the HTTP status code; ``outcome``: ``ok``, ``error`` (a JSON-RPC error) or
  ``refused`` (a 4xx/5xx without JSON-RPC dispatch).
* codes and reasons (``code``, ``reason``, ``scope``, ``event_type``, ``kind``, ``task``) come
  from vmcp's own code, not the wire; each still goes through ``_bounded``: at most
  ``MAX_VALUES`` distinct values per label of ``[a-z0-9_.:-]``, at most 48 characters, else
  ``other``.

Tool names are left out on purpose (admin-defined and unbounded in number); identifiers,
tokens, arguments, config and token ids never reach a label. The test
``tests/observability/test_metrics_endpoint.py`` scans the whole exposition for them.

Multiprocess: with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts; the client
reads it at import) every process writes its values there and ``/metrics`` sums them across the
processes of the host (``make run`` uses ``./var/prometheus`` and empties it at start). The pool
gauge is ``livesum``: the sum over live processes.

Cheap on the hot path: metric objects are module-level, ``.labels()`` children are cached per
label tuple in plain dicts (no lock, no kwargs), helpers build no dict per call.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
NO_WIRE = "none"
OTHER = "other"
MAX_VALUES = 64
DEFAULT_MAX_TENANTS = 100

KNOWN_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "logging/setLevel",
        "server/discover",
        "subscriptions/listen",
        "notifications/initialized",
        "notifications/cancelled",
        "GET",
        "POST",
        "DELETE",
    }
)
_LABEL_TEXT = re.compile(r"[a-z0-9_.:/-]{1,48}")

# Latency buckets: a tool call is milliseconds to tens of seconds (upstream time bound: 30 s).
_SECONDS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

MCP_REQUESTS = Counter(
    "vmcp_mcp_requests",
    "MCP endpoint requests, by JSON-RPC method, wire revision, outcome and HTTP status.",
    ["tenant", "method", "wire", "outcome", "status"],
)
MCP_REQUEST_SECONDS = Histogram(
    "vmcp_mcp_request_duration_seconds",
    "Wall time of an MCP request until its response ended (streams: until they closed).",
    ["method", "wire"],
    buckets=_SECONDS,
)
TOOL_CALL_SECONDS = Histogram(
    "vmcp_tool_call_duration_seconds",
    "tools/call latency split into vmcp's own time (part=vmcp) and the provider's (part=provider).",
    ["connector", "part"],
    buckets=_SECONDS,
)
PROVIDER_ERRORS = Counter(
    "vmcp_provider_errors",
    "Provider calls that failed (timeouts, HTTP errors, upstream protocol errors), by connector.",
    ["connector", "code"],
)
RATE_LIMITED = Counter(
    "vmcp_rate_limit_refusals",
    "Requests refused by a rate limit or bound, by scope (tenant, user, token, source, stream).",
    ["scope", "kind"],
)
AUTH_FAILURES = Counter(
    "vmcp_auth_failures",
    "Failed bearer authentications, by surface (mcp, api) and reason.",
    ["surface", "reason"],
)
TOKENS_MINTED = Counter("vmcp_tokens_minted", "Session tokens minted.", ["tenant"])
TOKENS_REVOKED = Counter("vmcp_tokens_revoked", "Session tokens revoked.", ["tenant"])
UPSTREAM_POOL = Gauge(
    "vmcp_upstream_pool_sessions",
    "Pooled upstream MCP sessions open (summed over live processes).",
    multiprocess_mode="livesum",
)
CELERY_RUNS = Counter("vmcp_celery_task_runs", "Celery tasks started, by task name.", ["task"])
CELERY_FAILURES = Counter(
    "vmcp_celery_task_failures", "Celery tasks that raised, by task name.", ["task"]
)
AUDIT_WRITTEN = Counter("vmcp_audit_rows_written", "Audit rows inserted.", ["event_type"])
AUDIT_PURGED = Counter("vmcp_audit_rows_purged", "Rows deleted by the retention purge.", ["kind"])

# Every metric name a dashboard may reference (exposition names, without suffixes).
METRICS = (
    MCP_REQUESTS,
    MCP_REQUEST_SECONDS,
    TOOL_CALL_SECONDS,
    PROVIDER_ERRORS,
    RATE_LIMITED,
    AUTH_FAILURES,
    TOKENS_MINTED,
    TOKENS_REVOKED,
    UPSTREAM_POOL,
    CELERY_RUNS,
    CELERY_FAILURES,
    AUDIT_WRITTEN,
    AUDIT_PURGED,
)

# ---------------------------------------------------------------- bounded labels

_seen: dict[str, set[str]] = {}
_children: dict[tuple[Any, ...], Any] = {}


def _bounded(label: str, value: Any) -> str:
    text = str(value or "").lower()
    if not _LABEL_TEXT.fullmatch(text):
        return OTHER
    seen = _seen.setdefault(label, set())
    if text in seen:
        return text
    if len(seen) >= MAX_VALUES:
        return OTHER
    seen.add(text)
    return text


_tenants: set[str] = set()


def _max_tenants() -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, "VMCP_METRICS_MAX_TENANTS", DEFAULT_MAX_TENANTS))
    except Exception:  # noqa: BLE001 - settings not configured (a bare script): the default
        return DEFAULT_MAX_TENANTS


def tenant_label(slug: str | None) -> str:
    """The tenant's label: its slug while under the cap, else ``other`` (``-`` when capped at 0)."""
    if not slug:
        return "-"
    if slug in _tenants:
        return slug
    cap = _max_tenants()
    if cap <= 0:
        return "-"
    if len(_tenants) >= cap:
        return OTHER
    _tenants.add(slug)
    return slug


def _child(metric: Any, *values: str) -> Any:
    key = (metric, *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


# ---------------------------------------------------------------- helpers for the call sites


def count_mcp_request(
    *, tenant: str | None, method: str, wire: str, outcome: str, status: int, seconds: float
) -> None:
    method = method if method in KNOWN_METHODS else OTHER
    _child(MCP_REQUESTS, tenant_label(tenant), method, wire, outcome, str(status)).inc()
    _child(MCP_REQUEST_SECONDS, method, wire).observe(seconds)


def observe_tool_call(*, connector: str, started: float, provider_seconds: float) -> None:
    """A finished ``tools/call``: ``started`` is its ``time.monotonic()`` start."""
    total = time.monotonic() - started
    connector = _bounded("connector", connector)
    _child(TOOL_CALL_SECONDS, connector, "provider").observe(provider_seconds)
    _child(TOOL_CALL_SECONDS, connector, "vmcp").observe(max(total - provider_seconds, 0.0))


def count_provider_error(connector: str, code: str) -> None:
    _child(PROVIDER_ERRORS, _bounded("connector", connector), _bounded("code", code)).inc()


def count_rate_limited(scope: str, kind: str = "tool-call") -> None:
    _child(RATE_LIMITED, _bounded("scope", scope), _bounded("kind", kind)).inc()


def count_auth_failure(surface: str, reason: str) -> None:
    _child(AUTH_FAILURES, _bounded("surface", surface), _bounded("reason", reason)).inc()


def _current_tenant_slug() -> str | None:
    from django.db import connection

    return getattr(getattr(connection, "tenant", None), "slug", None)


def count_token_minted() -> None:
    """In the tenant's schema context (``configs.services.tokens``)."""
    _child(TOKENS_MINTED, tenant_label(_current_tenant_slug())).inc()


def count_token_revoked(n: int = 1) -> None:
    if n:
        _child(TOKENS_REVOKED, tenant_label(_current_tenant_slug())).inc(n)


def set_upstream_pool_size(size: int) -> None:
    UPSTREAM_POOL.set(size)


def count_task_run(task: str) -> None:
    _child(CELERY_RUNS, _bounded("task", task)).inc()


def count_task_failure(task: str) -> None:
    _child(CELERY_FAILURES, _bounded("task", task)).inc()


def count_audit_written(event_type: str) -> None:
    _child(AUDIT_WRITTEN, _bounded("event_type", event_type)).inc()


def count_audit_purged(counts: dict[str, int]) -> None:
    for kind, n in counts.items():
        if n:
            _child(AUDIT_PURGED, _bounded("kind", kind)).inc(n)


# ---------------------------------------------------------------- exposition


def exposition() -> tuple[bytes, str]:
    """The text format of every metric: this host's processes summed in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead() -> None:
    """Multiprocess mode: drop this process's live-gauge files (called at exit)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), directory)


def metric_names() -> set[str]:
    """Every sample name this module can expose (``_total``, ``_bucket``, … included)."""
    names: set[str] = set()
    for metric in METRICS:
        for family in metric.describe():
            names.add(family.name)
            kind = family.type
            if kind == "counter":
                names |= {f"{family.name}_total", f"{family.name}_created"}
            elif kind == "histogram":
                names |= {f"{family.name}_{s}" for s in ("bucket", "count", "sum", "created")}
    return names
