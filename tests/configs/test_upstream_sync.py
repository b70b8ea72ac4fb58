"""Upstream MCP servers: synced as a connection (tools with their schemas), changes recorded,
credentials injected, results passed through unchanged, failures stored clearly."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django_tenants.utils import tenant_context

from audit.models import AuditEvent, EventType, Outcome
from configs.models import Connection
from configs.selectors import connection_upstream_headers
from configs.services.connections import connection_create, connection_sync_tools
from connectors import mcp_upstream
from tests.upstream.plugin import upstream_mcp  # noqa: F401
from tests.upstream.server import PNG_1X1
from vmcp_platform.errors import ProviderError

BASE = "/t/acme/api/v1"
SHARED = "Bearer shared-upstream-key-31f"


def _create_upstream(api, url: str, **extra: object):  # noqa: ANN001
    body = {
        "name": "upstream",
        "connector": "mcp",
        "auth_type": "none",
        "settings": {"server_url": url},
        **extra,
    }
    response = api.post(f"{BASE}/connections", body, format="json")
    assert response.status_code == 201, response.content
    return response


def test_sync_shows_the_upstream_tools_with_their_schemas(acme, acme_api, upstream_mcp):  # noqa: F811
    _create_upstream(acme_api, upstream_mcp.url)
    response = acme_api.post(f"{BASE}/connections/upstream/sync")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["last_error"] == ""
    assert body["tools_synced_at"]
    tools = {
        t["name"]: t for t in acme_api.get(f"{BASE}/connections/upstream/tools").json()["data"]
    }
    assert {"echo", "add", "tiny_image", "fail", "whoami"} <= set(tools)
    assert tools["echo"]["inputSchema"]["properties"]["text"]["type"] == "string"
    assert tools["echo"]["inputSchema"]["required"] == ["text"]
    assert tools["add"]["outputSchema"]["properties"]["sum"]["type"] == "number"
    assert body["tools_changes"]["added"] == sorted(tools)
    with tenant_context(acme):
        event = AuditEvent.objects.get(event_type=EventType.CONNECTION_SYNCED)
        assert event.outcome == Outcome.OK and event.extra["tools"] == len(tools)


def test_second_sync_records_added_removed_and_changed_tools(acme_api, upstream_mcp):  # noqa: F811
    _create_upstream(acme_api, upstream_mcp.url)
    acme_api.post(f"{BASE}/connections/upstream/sync")
    upstream_mcp.remove_tool("big")
    upstream_mcp.remove_tool("echo")
    upstream_mcp.mcp.add_tool(lambda text, times=1: text * times, name="echo", description="x")
    upstream_mcp.add_extra_tool("shout")
    body = acme_api.post(f"{BASE}/connections/upstream/sync").json()
    assert body["tools_changes"] == {"added": ["shout"], "removed": ["big"], "changed": ["echo"]}
    names = [t["name"] for t in acme_api.get(f"{BASE}/connections/upstream/tools").json()["data"]]
    assert "shout" in names and "big" not in names
    # Nothing changed since: an empty diff.
    body = acme_api.post(f"{BASE}/connections/upstream/sync").json()
    assert body["tools_changes"] == {"added": [], "removed": [], "changed": []}


def test_failed_sync_keeps_the_last_tools_and_stores_a_clear_error(acme, acme_api, upstream_mcp):  # noqa: F811
    _create_upstream(acme_api, upstream_mcp.url)
    acme_api.post(f"{BASE}/connections/upstream/sync")
    upstream_mcp.stop()
    response = acme_api.post(f"{BASE}/connections/upstream/sync")
    assert response.status_code == 502
    assert "could not reach the upstream MCP server" in response.json()["error"]["message"]
    body = acme_api.get(f"{BASE}/connections/upstream").json()
    assert "could not reach the upstream MCP server" in body["last_error"]
    assert len(acme_api.get(f"{BASE}/connections/upstream/tools").json()["data"]) >= 5


def test_sync_rechecks_ssrf_when_the_host_is_no_longer_allowed(acme, acme_api, upstream_mcp):  # noqa: F811
    _create_upstream(acme_api, upstream_mcp.url_with_host("localhost"))
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=[]):
        response = acme_api.post(f"{BASE}/connections/upstream/sync")
    assert response.status_code == 502
    assert "non-public address" in response.json()["error"]["message"]
    assert "non-public address" in acme_api.get(f"{BASE}/connections/upstream").json()["last_error"]


def test_shared_header_from_the_vault_reaches_the_upstream(acme, upstream_mcp):  # noqa: F811
    with tenant_context(acme):
        connection = connection_create(
            name="upstream",
            connector="mcp",
            auth_type="shared_header",
            settings={"server_url": upstream_mcp.url},
            secrets={"shared_header": SHARED},
            actor="tests",
        )
        headers = connection_upstream_headers(connection)
        assert headers == {"Authorization": SHARED}
        assert connection_sync_tools(connection=connection, actor="tests")
        sync_event = AuditEvent.objects.get(event_type=EventType.CONNECTION_SYNCED)
        assert "shared-upstream-key" not in str(sync_event.extra)


async def test_call_tool_injects_the_credential_and_passes_results_through(upstream_mcp):  # noqa: F811
    url = upstream_mcp.url
    who = await mcp_upstream.call_tool(
        server_url=url, headers={"Authorization": "Bearer alice"}, name="whoami", arguments={}
    )
    assert who.structured == {"user": "alice", "x_api_key": None}
    image = await mcp_upstream.call_tool(
        server_url=url, headers={}, name="tiny_image", arguments={}
    )
    assert image.content[0]["type"] == "image" and image.content[0]["mimeType"] == "image/png"
    import base64

    assert base64.b64decode(image.content[0]["data"]) == PNG_1X1
    added = await mcp_upstream.call_tool(
        server_url=url, headers={}, name="add", arguments={"a": 2, "b": 3}
    )
    assert added.structured == {"sum": 5.0} and added.is_error is False
    failed = await mcp_upstream.call_tool(server_url=url, headers={}, name="fail", arguments={})
    assert failed.is_error is True
    assert failed.content == [
        {"type": "text", "text": "Error executing tool fail: failed on purpose: nope"}
    ]


async def test_progress_is_forwarded_and_calls_are_bounded(upstream_mcp):  # noqa: F811
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    result = await mcp_upstream.call_tool(
        server_url=upstream_mcp.url,
        headers={},
        name="slow_progress",
        arguments={"steps": 2},
        progress_callback=progress,
    )
    assert result.content == [{"type": "text", "text": "done"}]
    assert seen == [(1.0, 2.0, "step 1"), (2.0, 2.0, "step 2")]
    with pytest.raises(ProviderError, match="did not answer within 0.5s"):
        await mcp_upstream.call_tool(
            server_url=upstream_mcp.url,
            headers={},
            name="sleep",
            arguments={"seconds": 5},
            timeout=0.5,
        )
    with (
        override_settings(VMCP_UPSTREAM_MAX_RESPONSE_BYTES=50_000),
        pytest.raises(ProviderError, match="exceeded 50000 bytes"),
    ):
        await mcp_upstream.call_tool(
            server_url=upstream_mcp.url, headers={}, name="big", arguments={"size": 100_000}
        )


def test_connections_of_other_kinds_are_not_synced_upstream(acme):
    with tenant_context(acme):
        demo = connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        tools = connection_sync_tools(connection=demo, actor="t")
        assert "demo_echo" in [t["name"] for t in tools]
        assert Connection.objects.get(pk=demo.pk).tools_synced_at is None
