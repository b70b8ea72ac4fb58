"""The /metrics gate in-process, bounded labels, JSON logs, the dashboard, the no-op cost."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from typing import Any

from django.test import override_settings

from tests.conftest import BASE_DIR
from vmcp_platform.logging import RedactingFilter
from vmcp_platform.observability import metrics
from vmcp_platform.observability.endpoint import MetricsEndpoint
from vmcp_platform.observability.logs import JsonFormatter


async def _inner(scope: dict, receive: Any, send: Any) -> None:
    raise AssertionError("/metrics must never reach the app")


def _get(client: str, headers: list[tuple[bytes, bytes]] = (), method: str = "GET") -> tuple:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": "/metrics",
        "headers": list(headers),
        "client": (client, 51000),
    }
    asyncio.run(MetricsEndpoint(_inner)(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@override_settings(VMCP_METRICS_TOKEN="")
def test_without_a_token_only_a_loopback_peer_without_forwarding_headers_is_served():
    assert _get("127.0.0.1")[0] == 200
    assert _get("::1")[0] == 200
    for client, headers in (
        ("10.0.0.7", []),
        ("192.168.1.4", []),
        ("127.0.0.1", [(b"x-forwarded-for", b"203.0.113.9")]),  # a proxy on the same host
        ("127.0.0.1", [(b"forwarded", b"for=203.0.113.9")]),
        ("127.0.0.1", [(b"x-real-ip", b"203.0.113.9")]),
    ):
        status, body = _get(client, headers)
        assert status == 403
        assert json.loads(body)["error"]["code"] == "forbidden"


@override_settings(VMCP_METRICS_TOKEN="s3cret-scrape-token")
def test_with_a_token_every_peer_needs_it_and_nothing_is_counted_against_the_source():
    from vmcp_platform import authfail

    client = authfail.sync_client()
    for _ in range(25):
        status, body = _get("127.0.0.1", [(b"authorization", b"Bearer wrong")])
        assert status == 401
        assert json.loads(body)["error"]["code"] == "unauthorized"
    assert _get("10.0.0.7")[0] == 401
    assert list(client.scan_iter(match="vmcp:authfail:*")) == []
    status, body = _get("10.0.0.7", [(b"authorization", b"Bearer s3cret-scrape-token")])
    assert status == 200
    assert b"vmcp_mcp_requests" in body
    assert _get("127.0.0.1", [(b"authorization", b"Bearer s3cret-scrape-token")], "POST")[0] == 405


def test_labels_are_bounded_tenants_capped_and_odd_values_folded(settings):
    settings.VMCP_METRICS_MAX_TENANTS = 2
    saved = set(metrics._tenants)
    metrics._tenants.clear()
    try:
        assert [metrics.tenant_label(s) for s in ("a", "b", "c", "a")] == ["a", "b", "other", "a"]
        settings.VMCP_METRICS_MAX_TENANTS = 0
        metrics._tenants.clear()
        assert metrics.tenant_label("a") == "-"
    finally:
        metrics._tenants.clear()
        metrics._tenants.update(saved)
    assert metrics._bounded("code", "Has Spaces and CAPS!") == "other"
    assert metrics._bounded("code", "x" * 49) == "other"
    assert metrics._bounded("code", "timeout") == "timeout"
    metrics.count_mcp_request(
        tenant=None, method="vmcp_st_abc/evil", wire="none", outcome="ok", status=200, seconds=0
    )
    text = metrics.exposition()[0].decode()
    assert "vmcp_st_abc" not in text


def test_json_log_lines_parse_and_are_still_redacted():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.observability.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(
            "calling with Authorization: Bearer vmcp_st_%s", "A1b2C3d4" * 5, extra={
                "execution_id": "8d0f6c1e-0000-4000-8000-000000000001",
                "note": "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "status": 200,
            },
        )  # fmt: skip
        try:
            raise ValueError("password=hunter2-very-secret")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["level"] == "WARNING"
    assert first["execution_id"] == "8d0f6c1e-0000-4000-8000-000000000001"
    assert first["status"] == 200
    assert "A1b2C3d4" not in stream.getvalue()
    assert "abcdefghijklmnop" not in stream.getvalue()
    assert "hunter2" not in stream.getvalue()
    assert "[REDACTED]" in first["message"]
    assert "ValueError" in second["exception"]


def test_every_metric_the_dashboard_uses_exists():
    dashboard = json.loads((BASE_DIR / "deploy" / "grafana" / "vmcp.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bvmcp_[a-z_]+\b", expr)}
    assert len(used) >= 13
    assert used <= metrics.metric_names(), used - metrics.metric_names()
    # And every metric is on the dashboard.
    families = {family.name for m in metrics.METRICS for family in m.describe()}
    assert {n for n in families if not any(u.startswith(n) for u in used)} == set()
