# ruff: noqa: F811 - pytest fixtures imported from other test modules
"""Execution against a real upstream MCP server: per-user keys, shared headers, pass-through."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from audit.models import AuditEvent
from configs.models import Connection
from connectors import mcp_direct, mcp_upstream
from gateway.execution import tool_execute
from tests.gateway.test_execution_support import _clean_rate_limits, run  # noqa: F401
from tests.upstream.plugin import upstream_mcp  # noqa: F401
from tests.upstream.server import PNG_1X1, UpstreamServer
from vault.models import ConnectedAccount, Secret
from vault.secrets import secret_put
from vmcp_platform.errors import ApplicationError


def _upstream_connection(
    upstream: UpstreamServer, *, name: str, auth_type: str, settings: dict | None = None
) -> Connection:
    tools = async_to_sync(mcp_upstream.list_tools)(server_url=upstream.url, headers={})
    return Connection.objects.create(
        name=name,
        connector="mcp",
        auth_type=auth_type,
        settings={"server_url": upstream.url, **(settings or {})},
        tools=tools,
    )


def _with_key(connection: Connection, identifier: str, key: str) -> None:
    account = ConnectedAccount.objects.create(
        connection=connection, identifier=identifier, status=ConnectedAccount.Status.ACTIVE
    )
    secret_put(owner_type=Secret.OwnerType.ACCOUNT, owner_id=account.pk, field="api_key", value=key)


def test_each_user_key_is_sent_as_bearer_to_the_upstream(acme, in_acme, upstream_mcp):
    connection = _upstream_connection(upstream_mcp, name="up", auth_type="api_key")
    _with_key(connection, "alice", "alice-key-1")
    _with_key(connection, "bob", "bob-key-2")
    for user, key in (("alice", "alice-key-1"), ("bob", "bob-key-2")):
        executed = run(acme, connection_name="up", tool_name="whoami", identifier=user)
        assert executed.result.is_error is False
        assert executed.result.structured == {"user": key, "x_api_key": None}
    with pytest.raises(ApplicationError) as caught:
        run(acme, connection_name="up", tool_name="whoami", identifier="mallory")
    assert caught.value.code == "no_active_account"


def test_a_configured_header_name_carries_the_raw_key(acme, in_acme, upstream_mcp):
    connection = _upstream_connection(
        upstream_mcp, name="up", auth_type="api_key", settings={"header_name": "X-Api-Key"}
    )
    _with_key(connection, "alice", "alice-key-1")
    executed = run(acme, connection_name="up", tool_name="whoami", identifier="alice")
    assert executed.result.structured == {"user": None, "x_api_key": "alice-key-1"}


def test_shared_header_comes_from_the_vault(acme, in_acme, upstream_mcp):
    connection = _upstream_connection(upstream_mcp, name="up", auth_type="shared_header")
    with pytest.raises(ApplicationError) as caught:
        run(acme, connection_name="up", tool_name="whoami", identifier="anyone")
    assert caught.value.code == "connection_not_configured"
    secret_put(
        owner_type=Secret.OwnerType.CONNECTION,
        owner_id=connection.pk,
        field="shared_header",
        value="Bearer team-secret",
    )
    executed = run(acme, connection_name="up", tool_name="whoami", identifier="anyone")
    assert executed.result.structured == {"user": "team-secret", "x_api_key": None}
    assert "team-secret" not in str(list(AuditEvent.objects.values()))


def test_content_types_and_tool_errors_pass_through(acme, in_acme, upstream_mcp):
    _upstream_connection(upstream_mcp, name="up", auth_type="none")
    image = run(acme, connection_name="up", tool_name="tiny_image", identifier="a")
    assert image.result.content[0]["type"] == "image"
    assert image.result.content[0]["mimeType"] == "image/png"
    import base64

    assert base64.b64decode(image.result.content[0]["data"]) == PNG_1X1
    failed = run(
        acme, connection_name="up", tool_name="fail", identifier="a", arguments={"reason": "x"}
    )
    assert failed.result.is_error is True
    assert failed.error is None  # the tool answered; it is not a provider failure
    assert failed.error_code == "tool_error"
    assert "failed on purpose: x" in failed.result.content[0]["text"]
    events = AuditEvent.objects.filter(event_type="tool.called").order_by("id")
    assert [(e.tool_name, e.outcome, e.error_code) for e in events] == [
        ("tiny_image", "ok", ""),
        ("fail", "error", "tool_error"),
    ]


def test_progress_notifications_reach_the_callback(acme, in_acme, upstream_mcp):
    _upstream_connection(upstream_mcp, name="up", auth_type="none")
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    executed = async_to_sync(tool_execute)(
        tenant=acme,
        connection_name="up",
        tool_name="slow_progress",
        identifier="a",
        arguments={"steps": 3},
        actor="tests",
        progress_callback=on_progress,
    )
    assert executed.result.content[0]["text"] == "done"
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


def test_upstream_timeout_is_an_error_result(acme, in_acme, upstream_mcp, settings):
    settings.VMCP_TOOL_TIMEOUT_SECONDS = 0.5
    _upstream_connection(upstream_mcp, name="up", auth_type="none")
    executed = run(
        acme, connection_name="up", tool_name="sleep", identifier="a", arguments={"seconds": 3}
    )
    assert executed.result.is_error is True
    assert executed.error_code == "provider_timeout"


def test_arguments_are_validated_against_the_synced_schema(acme, in_acme, upstream_mcp):
    from vmcp_platform.errors import ValidationFailed

    _upstream_connection(upstream_mcp, name="up", auth_type="none")
    with pytest.raises(ValidationFailed) as caught:
        run(acme, connection_name="up", tool_name="add", identifier="a", arguments={"a": 1})
    assert caught.value.message == "Invalid arguments for tool 'add': 'b' is required."


def test_x_mcp_header_arguments_reach_the_upstream_as_mcp_param_headers(
    acme, in_acme, upstream_mcp, monkeypatch
):
    # The SDK server refuses a tools/call whose Mcp-Param-* headers are missing (HEADER_MISMATCH);
    # a pooled SDK session has listed no tools, so its client recovers only by re-listing and
    # resending. The lean path sends them from the catalogue at once: one tools/call POST.
    from connectors import mcp_rpc
    from tests.connectors.test_mcp_rpc import _with_routed_tool

    posts: list[str] = []
    real = mcp_rpc.call

    async def counted(url, method, *args, **kwargs):
        posts.append(method)
        return await real(url, method, *args, **kwargs)

    monkeypatch.setattr(mcp_rpc, "call", counted)

    _with_routed_tool(upstream_mcp.mcp)
    connection = _upstream_connection(upstream_mcp, name="up", auth_type="none")
    assert mcp_direct.is_modern(upstream_mcp.url)  # the sync's listing probed the era
    arguments = {"region": "eu", "count": 2}
    executed = run(
        acme, connection_name="up", tool_name="routed", identifier="a", arguments=arguments
    )
    assert executed.result.is_error is False
    assert executed.result.structured == {"mcp-param-region": "eu", "mcp-param-count": "2"}
    assert posts == ["tools/call"]
    assert connection.tools and any(t["name"] == "routed" for t in connection.tools)
