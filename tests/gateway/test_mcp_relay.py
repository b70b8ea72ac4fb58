# ruff: noqa: F811 - pytest fixtures imported from their support modules
"""What an upstream MCP server says besides its result reaches the agent unchanged: log
notifications (at the agent's level) and JSON-RPC errors about the agent's own request.

The upstream is the conformance suite's fixture server (``conformance/upstream_server.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from audit.models import AuditEvent
from conformance.upstream_server import build_server
from tenants.models import Tenant
from tests.conftest import free_port
from tests.gateway.test_mcp_support import modern_post
from tests.upstream.server import UpstreamServer

MODES = ["auto", "legacy"]
LOGS = ["Tool execution started", "Tool processing data", "Tool execution completed"]


@dataclass
class RelayLive:
    url: str
    token: str
    tenant: Tenant

    def client(self, mode: str, **options: object) -> Client:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        return Client(streamable_http_client(self.url, http_client=http), mode=mode, **options)


@pytest.fixture
def fixture_upstream() -> Iterator[UpstreamServer]:
    upstream = UpstreamServer(mcp=build_server(), port=free_port())
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture
def relay_live(live_tenant, live_server_url, django_db_blocker, fixture_upstream) -> RelayLive:
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    with django_db_blocker.unblock(), tenant_context(live_tenant):
        upstream = connection_create(
            name="fixture",
            connector="mcp",
            auth_type="none",
            settings={"server_url": fixture_upstream.url},
            secrets=None,
            actor="tests",
        )
        assert connection_sync_tools(connection=upstream, actor="tests")
        config = mcp_config_create(
            name="fixture", mappings=[{"connection_name": "fixture", "tools": ["*"]}], actor="tests"
        )
        minted = session_token_mint(
            config=config, identifier="carol", expiry_seconds=3600, actor="tests"
        )
    url = f"{live_server_url}/t/{live_tenant.slug}/mcp/{config.pk}"
    return RelayLive(url=url, token=minted.secret, tenant=live_tenant)


async def test_upstream_logs_reach_a_modern_client_that_opted_in(relay_live):
    received: list[tuple[str, object]] = []

    async def on_log(params) -> None:  # noqa: ANN001 - LoggingMessageNotificationParams
        received.append((params.level, params.data))

    async with relay_live.client("auto", logging_callback=on_log, log_level="info") as session:
        result = await session.call_tool("test_tool_with_logging", {})
    assert result.content[0].text == "Tool with logging executed successfully"
    assert received == [("info", text) for text in LOGS]


async def test_upstream_logs_below_the_agents_level_are_not_relayed(relay_live):
    received: list[object] = []

    async def on_log(params) -> None:  # noqa: ANN001
        received.append(params)

    async with relay_live.client("auto", logging_callback=on_log, log_level="warning") as session:
        result = await session.call_tool("test_tool_with_logging", {})
    assert result.is_error is False
    assert received == []


async def test_upstream_logs_reach_a_legacy_client_after_set_level(relay_live):
    received: list[tuple[str, object]] = []

    async def on_log(params) -> None:  # noqa: ANN001
        received.append((params.level, params.data))

    async with relay_live.client("legacy", logging_callback=on_log) as session:
        await session.set_logging_level("debug")
        result = await session.call_tool("test_tool_with_logging", {})
    assert result.is_error is False
    assert received == [("info", text) for text in LOGS]


@pytest.mark.parametrize("mode", MODES)
async def test_upstream_missing_capability_error_is_relayed_as_32021(
    relay_live, django_db_blocker, mode
):
    async with relay_live.client(mode) as session:
        with pytest.raises(MCPError) as refused:
            await session.call_tool("test_missing_capability", {})
    assert refused.value.error.code == -32021
    assert refused.value.error.message == "This tool requires the client's sampling capability"
    assert refused.value.error.data == {"requiredCapabilities": {"sampling": {}}}

    def audited() -> list[tuple[str, str, str, str]]:
        with django_db_blocker.unblock(), tenant_context(relay_live.tenant):
            return list(
                AuditEvent.objects.filter(tool_name="test_missing_capability").values_list(
                    "event_type", "identifier", "outcome", "error_code"
                )
            )

    assert await sync_to_async(audited)() == [
        ("tool.called", "carol", "error", "upstream_protocol_error")
    ]


def test_missing_capability_on_the_modern_wire_is_http_400(relay_live):
    response = modern_post(
        relay_live.url,
        relay_live.token,
        "tools/call",
        {"name": "test_missing_capability", "arguments": {}},
        request_id=11,
    )
    assert response.status_code == 400
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 11,
        "error": {
            "code": -32021,
            "message": "This tool requires the client's sampling capability",
            "data": {"requiredCapabilities": {"sampling": {}}},
        },
    }


def test_other_upstream_failures_stay_tool_errors(relay_live):
    response = modern_post(
        relay_live.url, relay_live.token, "tools/call", {"name": "test_error_handling"}
    )
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert result["content"] == [
        {
            "type": "text",
            "text": "Error executing tool test_error_handling:"
            " This tool intentionally returns an error for testing",
        }
    ]
