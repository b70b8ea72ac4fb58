# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
"""The official ``mcp`` SDK client against the real endpoint, in both protocol revisions."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from audit.models import AuditEvent
from tests.gateway.test_mcp_support import McpLive, mcp_live  # noqa: F401

MODES = ["auto", "legacy"]


def client(live: McpLive, who: str, mode: str, url: str | None = None) -> Client:
    return Client(
        streamable_http_client(url or live.url, http_client=live.sdk_http(who)), mode=mode
    )


def test_metadata_endpoint_describes_the_resource(client, acme):  # noqa: F811 - Django client
    response = client.get(
        "/.well-known/oauth-protected-resource/t/acme/mcp/6f1d2a52-6e5b-4a55-9a49-1d8f5e0e7c11"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["resource"].endswith("/t/acme/mcp/6f1d2a52-6e5b-4a55-9a49-1d8f5e0e7c11")
    assert body["authorization_servers"] == []
    assert body["bearer_methods_supported"] == ["header"]


@pytest.mark.parametrize("mode", MODES)
async def test_each_user_lists_exactly_the_allowed_tools_with_overrides(mcp_live, mode):
    for who in ("alice", "bob"):
        async with client(mcp_live, who, mode) as session:
            expected = "2026-07-28" if mode == "auto" else "2025-11-25"
            assert session.protocol_version == expected
            assert session.instructions == "Summarizes things for the tests."
            tools = (await session.list_tools()).tools
            assert [t.name for t in tools] == ["echo", "demo_add"]
            assert tools[0].description == "Echo it back."
            assert tools[1].output_schema["required"] == ["sum"]


@pytest.mark.parametrize("mode", MODES)
async def test_calls_return_content_and_structured_content(mcp_live, mode):
    async with client(mcp_live, "alice", mode) as session:
        echoed = await session.call_tool("echo", {"text": "hi alice"})
        assert echoed.is_error is False
        assert echoed.content[0].text == "hi alice"
        added = await session.call_tool("demo_add", {"a": 2, "b": 3})
        assert added.structured_content == {"sum": 5}


@pytest.mark.parametrize("mode", MODES)
async def test_invalid_arguments_are_a_tool_error_naming_the_field(mcp_live, mode):
    async with client(mcp_live, "bob", mode) as session:
        result = await session.call_tool("demo_add", {"a": 2})
        assert result.is_error is True
        assert "b" in result.content[0].text


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_or_unmapped_tool_is_refused_and_audited_as_denied(
    mcp_live, mode, django_db_blocker
):
    async with client(mcp_live, "alice", mode) as session:
        for name in ("demo_current_time", "demo_echo"):  # not mapped / only its exposed name is
            with pytest.raises(MCPError) as refused:
                await session.call_tool(name, {})
            assert refused.value.error.code == -32602
            assert f"Unknown tool: {name}" in refused.value.error.message

    def read() -> tuple[list[tuple[str, ...]], int]:
        with django_db_blocker.unblock(), tenant_context(mcp_live.tenant):
            denied = AuditEvent.objects.filter(event_type="tool.denied").order_by("id")
            return (
                list(denied.values_list("tool_name", "identifier", "error_code", "outcome")),
                AuditEvent.objects.filter(event_type="tool.called").count(),
            )

    denied, called = await sync_to_async(read)()
    assert denied == [
        ("demo_current_time", "alice", "unknown_tool", "denied"),
        ("demo_echo", "alice", "unknown_tool", "denied"),
    ]
    assert called == 0


@pytest.mark.parametrize("mode", MODES)
async def test_token_of_another_config_cannot_use_this_url(mcp_live, mode):
    with pytest.raises(Exception) as refused:  # noqa: B017 - the SDK wraps the 401
        async with client(mcp_live, "alice_other", mode) as session:
            await session.list_tools()
    assert "401" in repr(refused.value) or "Unauthorized" in repr(refused.value)
    async with client(mcp_live, "alice_other", mode, url=mcp_live.other_url) as session:
        assert [t.name for t in (await session.list_tools()).tools] == ["demo_current_time"]
