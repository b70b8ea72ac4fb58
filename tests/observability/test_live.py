# ruff: noqa: F811 - pytest fixtures imported from other test modules
"""Metrics, traces and JSON logs of a real daphne, driven by real MCP calls.

One daphne for the module with everything on: ``VMCP_METRICS_TOKEN``, a multiprocess metrics
directory, ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at an in-process OTLP collector
(``collector.py``) and ``VMCP_LOG_FORMAT=json``. The upstream MCP server is a real SDK server
with one extra tool that reports the ``traceparent`` header it received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from asgiref.sync import async_to_sync
from django_tenants.utils import tenant_context
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, run_daphne
from tests.gateway.test_mcp_support import modern_post, provision
from tests.observability.collector import Collector, run_collector
from tests.upstream.server import UpstreamServer, _free_port, build_server

METRICS_TOKEN = "metrics-scrape-token-4f2b9c8e1d7a"
SHARED_HEADER = "Bearer team-secret-upstream-91c3"
AGENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
AGENT_SPAN_ID = "00f067aa0ba902b7"


@dataclass
class Stack:
    url: str
    port: int
    collector: Collector
    upstream: UpstreamServer


def _trace_headers(ctx: Context) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
    return {"traceparent": headers.get("traceparent")}


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:  # noqa: ANN001
    server = build_server("upstream-traced")
    server.add_tool(_trace_headers, name="trace_headers", description="Report traceparent.")
    upstream = UpstreamServer(mcp=server, port=_free_port())
    upstream.start()
    port = free_port()
    try:
        with run_collector() as collector:
            env = {
                "VMCP_METRICS_TOKEN": METRICS_TOKEN,
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("prometheus")),
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "VMCP_LOG_FORMAT": "json",
                "NO_PROXY": "127.0.0.1,localhost",
            }
            with django_db_blocker.unblock(), run_daphne(port, env) as url:
                yield Stack(url, port, collector, upstream)
    finally:
        upstream.stop()


@dataclass
class Tenant:
    slug: str
    tenant: Any
    config_id: str
    other_id: str
    traced_id: str
    tokens: dict[str, str]
    token_ids: dict[str, str]
    api_key: str


@pytest.fixture
def live(stack, live_tenant, django_db_blocker) -> Tenant:  # noqa: ANN001
    from accounts.services.sessions import session_token_mint
    from configs.models import Connection, McpConfig
    from configs.services.mcp_configs import mcp_config_create
    from connectors import mcp_upstream
    from tenants.services import api_key_create
    from vault.models import Secret
    from vault.secrets import secret_put

    with django_db_blocker.unblock():
        config_id, other_id, tokens, token_ids = provision(live_tenant)
        tools = async_to_sync(mcp_upstream.list_tools)(server_url=stack.upstream.url, headers={})
        with tenant_context(live_tenant):
            up = Connection.objects.create(
                name="up",
                connector="mcp",
                auth_type="shared_header",
                settings={"server_url": stack.upstream.url},
                tools=tools,
            )
            secret_put(
                owner_type=Secret.OwnerType.CONNECTION,
                owner_id=up.pk,
                field="shared_header",
                value=SHARED_HEADER,
            )
            traced = mcp_config_create(
                name="traced",
                mappings=[{"connection_name": "up", "tools": ["trace_headers"]}],
                actor="tests",
            )
            minted = session_token_mint(
                config=traced, identifier="alice", expiry_seconds=3600, actor="tests"
            )
            tokens["traced"], token_ids["traced"] = minted.secret, str(minted.token.pk)
            McpConfig.objects.filter(pk=other_id).update(rate_limit_per_minute=1)
        api_key = api_key_create(tenant=live_tenant, name="obs", created_by="tests").secret
    return Tenant(
        live_tenant.slug,
        live_tenant,
        config_id,
        other_id,
        str(traced.pk),
        tokens,
        token_ids,
        api_key,
    )


def _mcp_url(stack: Stack, live: Tenant, config_id: str) -> str:
    return f"{stack.url}/t/{live.slug}/mcp/{config_id}"


def _call(stack: Stack, live: Tenant, config_id: str, who: str, name: str, args: dict, **kw):
    response = modern_post(
        _mcp_url(stack, live, config_id),
        live.tokens[who],
        "tools/call",
        {"name": name, "arguments": args},
        **kw,
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]


def _scrape(stack: Stack, **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {METRICS_TOKEN}", **headers}
    return httpx.get(f"{stack.url}/metrics", headers=sent, timeout=10)


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and labels.items() <= lab.items())


async def _legacy_call(url: str, token: str) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with Client(streamable_http_client(url, http_client=http), mode="legacy") as session:
        assert (await session.call_tool("echo", {"text": "legacy"})).is_error is False


def test_metrics_move_with_real_calls_and_never_carry_an_identifier_or_secret(stack, live):
    for i in range(3):
        assert _call(stack, live, live.config_id, "alice", "demo_add", {"a": i, "b": 1})[
            "structuredContent"
        ] == {"sum": i + 1}
    asyncio.run(_legacy_call(_mcp_url(stack, live, live.config_id), live.tokens["bob"]))
    assert _call(stack, live, live.traced_id, "traced", "trace_headers", {})["isError"] is False
    # Rate limited (the other server allows 1 call a minute per user).
    _call(stack, live, live.other_id, "alice_other", "demo_current_time", {})
    limited = _call(stack, live, live.other_id, "alice_other", "demo_current_time", {})
    assert limited["isError"] is True
    # An authentication failure.
    bad = modern_post(
        _mcp_url(stack, live, live.config_id), "vmcp_st_" + "x" * 40, "tools/list", {}
    )
    assert bad.status_code == 401
    # A token minted and revoked through the API.
    api = f"{stack.url}/t/{live.slug}/api/v1"
    auth = {"Authorization": f"Bearer {live.api_key}"}
    minted = httpx.post(
        f"{api}/mcp/configs/{live.config_id}/tokens",
        json={"identifier": "bob", "expiry": "15m"},
        headers=auth,
        timeout=10,
    )
    assert minted.status_code == 201, minted.text
    revoked = httpx.delete(f"{api}/mcp/tokens/{minted.json()['id']}", headers=auth, timeout=10)
    assert revoked.status_code in (200, 204), revoked.text

    response = _scrape(stack)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    slug = live.slug
    calls = "vmcp_mcp_requests_total"
    assert _value(samples, calls, method="tools/call", wire="2026-07-28", tenant=slug,
                  outcome="ok", status="200") >= 6  # fmt: skip
    assert _value(samples, calls, method="tools/call", wire="2025-11-25", tenant=slug) >= 1
    assert _value(samples, calls, method="initialize", wire="2025-11-25", tenant=slug) >= 1
    assert _value(samples, calls, status="401", outcome="error", tenant=slug) >= 1
    for connector in ("demo", "mcp"):
        for part in ("vmcp", "provider"):
            count = "vmcp_tool_call_duration_seconds_count"
            assert _value(samples, count, connector=connector, part=part) >= 1
            buckets = [
                v
                for n, lab, v in samples
                if n == "vmcp_tool_call_duration_seconds_bucket"
                and lab["connector"] == connector
                and lab["part"] == part
                and lab["le"] != "+Inf"
            ]
            assert max(buckets) >= 1  # some finite bucket filled
    assert _value(samples, "vmcp_rate_limit_refusals_total", scope="user") >= 1
    assert _value(samples, "vmcp_auth_failures_total", surface="mcp", reason="malformed_token") >= 1
    assert _value(samples, "vmcp_tokens_minted_total", tenant=slug) >= 1
    assert _value(samples, "vmcp_tokens_revoked_total", tenant=slug) >= 1
    assert _value(samples, "vmcp_audit_rows_written_total", event_type="tool.called") >= 6
    assert _value(samples, "vmcp_upstream_pool_sessions") >= 1
    assert _value(samples, "vmcp_mcp_request_duration_seconds_count", method="tools/call") >= 6

    # Names and labels: only the bounded label set, and no identifier, token or secret anywhere.
    allowed = {"tenant", "method", "wire", "outcome", "status", "connector", "part", "code",
               "scope", "kind", "surface", "reason", "task", "event_type", "le"}  # fmt: skip
    vmcp_labels = {k for n, lab, _ in samples if n.startswith("vmcp_") for k in lab}
    assert vmcp_labels <= allowed
    text = response.text
    forbidden = [
        *live.tokens.values(),
        *live.token_ids.values(),
        live.config_id,
        live.other_id,
        live.traced_id,
        live.api_key,
        SHARED_HEADER.split()[-1],
        METRICS_TOKEN,
        minted.json()["token"],
        minted.json()["id"],
        "alice",
        "bob",
        "trace_headers",
        "demo_add",
    ]
    for value in forbidden:
        assert value not in text, value


def test_metrics_need_the_token_but_no_allowed_host_and_are_never_throttled(stack):
    refused = httpx.get(f"{stack.url}/metrics", timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    for _ in range(30):  # far beyond any failed-auth window: a scraper is never locked out
        wrong = _scrape(stack, Authorization="Bearer not-the-token")
        assert wrong.status_code == 401
    # A probe's Host is a pod IP or anything; /metrics does not care.
    scraped = _scrape(stack, Host="10.1.2.3:8000")
    assert scraped.status_code == 200
    assert "vmcp_mcp_requests_total" in scraped.text or "vmcp_mcp_requests" in scraped.text


def _audit_execution_ids(live: Tenant, django_db_blocker: Any) -> list[str]:
    from audit.models import AuditEvent

    with django_db_blocker.unblock(), tenant_context(live.tenant):
        rows = AuditEvent.objects.filter(event_type="tool.called").order_by("id")
        return [row.extra["execution_id"] for row in rows]


def test_one_tools_call_is_one_trace_joined_to_its_audit_row_and_log_line(
    stack, live, django_db_blocker
):
    traceparent = f"00-{AGENT_TRACE_ID}-{AGENT_SPAN_ID}-01"
    result = _call(
        stack, live, live.traced_id, "traced", "trace_headers", {},
        headers={"traceparent": traceparent},
    )  # fmt: skip
    # The upstream got the agent's trace, under a span of ours (not the agent's span id).
    upstream_parent = result["structuredContent"]["traceparent"]
    assert upstream_parent.split("-")[1] == AGENT_TRACE_ID
    assert upstream_parent.split("-")[2] != AGENT_SPAN_ID

    (execution_id,) = _audit_execution_ids(live, django_db_blocker)

    def complete(spans: list) -> bool:
        return any(s.name == "vmcp.mcp tools/call" and s.trace_id == AGENT_TRACE_ID for s in spans)

    spans = [s for s in stack.collector.wait_for(complete) if s.trace_id == AGENT_TRACE_ID]
    (root,) = [s for s in spans if s.name == "vmcp.mcp tools/call"]
    assert root.parent_id == AGENT_SPAN_ID
    assert root.attributes["vmcp.execution_id"] == execution_id
    assert root.attributes["mcp.protocol.version"] == "2026-07-28"
    assert root.attributes["http.response.status_code"] == 200
    children = {s.name for s in spans if s.parent_id == root.span_id}
    assert children == {
        "vmcp.authorize",
        "vmcp.rate_limit",
        "vmcp.credential",
        "vmcp.provider",
        "vmcp.audit",
    }
    (provider,) = [s for s in spans if s.name == "vmcp.provider"]
    assert provider.attributes == {"vmcp.connector": "mcp"}
    # The SDK's client span sits under ours and is the parent the upstream was told about.
    sdk = [s for s in spans if s.parent_id == provider.span_id]
    assert upstream_parent.split("-")[2] in {s.span_id for s in sdk}
    secrets = [*live.tokens.values(), SHARED_HEADER.split()[-1], "alice", live.traced_id]
    dumped = json.dumps([s.attributes for s in spans])
    for value in secrets:
        assert value not in dumped

    # The JSON log line of the same request carries the same execution id and trace id.
    from tests.secret_scan import LOG_DIR

    lines = (LOG_DIR / f"daphne-{stack.port}.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    (line,) = [r for r in records if r.get("execution_id") == execution_id]
    assert line["logger"] == "vmcp.mcp.request"
    assert line["mcp_method"] == "tools/call"
    assert line["status"] == 200
    assert line["outcome"] == "ok"
    assert line["tenant"] == live.slug
    assert line["trace_id"] == AGENT_TRACE_ID
    assert line["duration_ms"] > 0
