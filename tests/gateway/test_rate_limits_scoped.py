# ruff: noqa: F811 - pytest fixtures imported from the support modules
"""Rate limits per end user across the tenant and per tool (on a server's mapping), and
``execute_tool``'s optional ``config_id``: that server's scope and limits, else the tenant-wide
per-user limit. REST in-process; MCP on the real daphne, warm path and ORM path."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from configs.models import ToolMapping
from configs.services.mcp_configs import mcp_config_create
from gateway import ratelimit
from gateway.ratelimit import limits_for, rate_limit_consume
from tests.gateway.test_execution_support import (  # noqa: F401
    _clean_rate_limits,
    demo_connection,
    set_limits,
)
from tests.gateway.test_mcp_support import McpLive, mcp_live, modern_post  # noqa: F401
from tests.gateway.test_mcp_warm import orm_url  # noqa: F401
from vmcp_platform.errors import RateLimited

URL = "/t/acme/api/v1/execute_tool"


def _call(api, tool: str, identifier: str = "alice", **extra):  # noqa: ANN001, ANN202
    params = {"a": 1, "b": 2} if tool in {"demo_add", "add"} else {"text": "hi"}
    return api.post(
        URL, {"tool_name": tool, "identifier": identifier, "params": params, **extra}, format="json"
    )


def _limited(response, scope: str) -> dict:  # noqa: ANN001
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and error["details"]["scope"] == scope
    assert int(response["Retry-After"]) >= 1
    return error


@pytest.fixture
def server(acme, demo_connection):  # noqa: ANN001, ANN201
    with tenant_context(acme):
        return mcp_config_create(
            name="calc",
            mappings=[
                {
                    "connection_name": "demo",
                    "tools": ["demo_add", "demo_echo"],
                    "overrides": {"demo_add": {"name": "add"}},
                    "tool_rate_limits": {"demo_add": 2},
                }
            ],
            actor="tests",
        )


# ---------------------------------------------------------------- the keys and the one script


def test_the_end_user_key_spans_servers_and_the_tool_key_names_the_tool():
    def limits(config_id: str | None) -> list[ratelimit.Limit]:
        return limits_for(
            schema="t_acme",
            tenant_limit=100,
            user_limit=10,
            config_id=config_id,
            config_limit=None,
            identifier="alice@example.com",
            end_user_limit=50,
            tool_name="gmail_send_email",
            tool_limit=10,
        )

    one, two, none = limits("c1"), limits("c2"), limits(None)
    assert [x.scope for x in one] == ["tenant", "end_user", "user", "tool"]
    assert one[1] == two[1] == none[1]  # the same key, whatever the server
    assert [x.scope for x in none] == ["tenant", "end_user"]
    assert one[3].key.startswith("rl:{t_acme}:tool:c1:gmail_send_email:")
    assert all("alice" not in x.key and x.key.startswith("rl:{t_acme}:") for x in one)


async def test_four_limits_are_one_script_call_and_a_tool_denial_names_the_tool(monkeypatch):
    calls = []
    real = ratelimit._script

    def counting():  # noqa: ANN202
        script = real()

        async def call(**kwargs):  # noqa: ANN003, ANN202
            calls.append(kwargs["keys"])
            return await script(**kwargs)

        return call

    monkeypatch.setattr(ratelimit, "_script", counting)
    limits = limits_for(
        schema="t_rl4",
        tenant_limit=100,
        user_limit=100,
        config_id="c",
        config_limit=None,
        identifier="a",
        end_user_limit=100,
        tool_name="send",
        tool_limit=1,
    )
    await rate_limit_consume(limits)
    assert len(calls) == 1 and len(calls[0]) == 4
    with pytest.raises(RateLimited) as refused:
        await rate_limit_consume(limits)
    assert refused.value.details == {
        "retry_after": refused.value.details["retry_after"],
        "scope": "tool",
        "tool": "send",
    }
    assert len(calls) == 2


# ---------------------------------------------------------------- REST execute_tool


def test_without_config_id_the_tenant_wide_per_user_limit_applies(acme, acme_api, demo_connection):
    set_limits(acme, end_user_rate_limit_per_minute=2, user_rate_limit_per_minute=1)
    assert _call(acme_api, "demo_add").status_code == 200
    assert _call(acme_api, "demo_echo").status_code == 200  # any tool: the same allowance
    _limited(_call(acme_api, "demo_add"), "end_user")
    assert _call(acme_api, "demo_add", identifier="bob").status_code == 200  # another user


def test_with_config_id_only_that_servers_tools_by_their_exposed_names(acme, acme_api, server):
    config = str(server.pk)
    ok = _call(acme_api, "add", config_id=config)
    assert ok.status_code == 200, ok.content
    assert ok.json()["data"] == {"sum": 3}
    # The original name is not what this server exposes; an unmapped tool is out of scope.
    for name in ("demo_add", "demo_current_time"):
        refused = _call(acme_api, name, config_id=config)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "unknown_tool"
    missing = _call(acme_api, "add", config_id="6f1d2a52-6e5b-4a55-9a49-1d8f5e0e7c11")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    with tenant_context(acme):
        from audit.models import AuditEvent

        event = AuditEvent.objects.get(event_type="tool.called")
        assert str(event.config_id) == config and event.tool_name == "demo_add"


def test_with_config_id_the_servers_per_user_limit_applies(acme, acme_api, server):
    with tenant_context(acme):
        type(server).objects.filter(pk=server.pk).update(rate_limit_per_minute=1)
    assert _call(acme_api, "demo_echo", config_id=str(server.pk)).status_code == 200
    _limited(_call(acme_api, "demo_echo", config_id=str(server.pk)), "user")
    # Without the server, its limit does not apply (the tenant-wide one does).
    assert _call(acme_api, "demo_echo").status_code == 200


def test_a_per_tool_limit_on_the_mapping_holds_that_tool_only(acme, acme_api, server):
    config = str(server.pk)
    for _ in range(2):
        assert _call(acme_api, "add", config_id=config).status_code == 200
    error = _limited(_call(acme_api, "add", config_id=config), "tool")
    assert error["details"]["tool"] == "demo_add"
    assert _call(acme_api, "demo_echo", config_id=config).status_code == 200
    assert _call(acme_api, "add", identifier="bob", config_id=config).status_code == 200


def test_tool_rate_limits_are_validated_and_returned(acme, acme_api, demo_connection):
    base = {"name": "limited", "connection_tool_mappings": []}
    for bad, where in (
        ({"demo_add": 0}, "demo_add"),
        ({"demo_add": "ten"}, "demo_add"),
        ({"demo_current_time": 5}, "demo_current_time"),  # not exposed by this mapping
    ):
        mapping = {"connection_name": "demo", "tools": ["demo_add"], "tool_rate_limits": bad}
        response = acme_api.post(
            "/t/acme/api/v1/mcp/configs",
            {**base, "connection_tool_mappings": [mapping]},
            format="json",
        )
        assert response.status_code == 400, bad
        fields = response.json()["error"]["details"]
        assert any(where in key for key in str(fields).split("'")), fields
    good = {"connection_name": "demo", "tools": ["*"], "tool_rate_limits": {"demo_add": 10}}
    created = acme_api.post(
        "/t/acme/api/v1/mcp/configs", {**base, "connection_tool_mappings": [good]}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["connection_tool_mappings"][0]["tool_rate_limits"] == {"demo_add": 10}
    with tenant_context(acme):
        assert ToolMapping.objects.get().tool_rate_limits == {"demo_add": 10}


# ---------------------------------------------------------------- MCP, warm and ORM paths


def test_mcp_tools_call_honours_the_per_tool_and_tenant_wide_user_limits(
    mcp_live, orm_url, django_db_blocker
):
    from tenants.models import Tenant

    with django_db_blocker.unblock(), tenant_context(mcp_live.tenant):
        ToolMapping.objects.filter(config_id=mcp_live.config_id).update(
            tool_rate_limits={"demo_add": 2}
        )

    def call(base: str, name: str = "demo_add") -> dict:
        url = f"{base}/t/{mcp_live.tenant.slug}/mcp/{mcp_live.config_id}"
        args = {"a": 1, "b": 1} if name == "demo_add" else {"text": "hi"}
        params = {"name": name, "arguments": args}
        return modern_post(url, mcp_live.tokens["alice"], "tools/call", params).json()

    for base in (mcp_live.base_url, orm_url):
        ratelimit_keys_clear(mcp_live.tenant.schema_name)
        assert [call(base)["result"]["isError"] for _ in range(2)] == [False, False]
        limited = call(base)["result"]
        assert limited["isError"] is True and "demo_add" in limited["content"][0]["text"], base
        assert call(base, "echo")["result"]["isError"] is False  # another tool: not held

    with django_db_blocker.unblock():
        Tenant.objects.filter(pk=mcp_live.tenant.pk).update(end_user_rate_limit_per_minute=1)
    ratelimit_keys_clear(mcp_live.tenant.schema_name)
    assert call(mcp_live.base_url, "echo")["result"]["isError"] is False
    text = call(mcp_live.base_url, "echo")["result"]["content"][0]["text"]
    assert "across the tenant" in text


def ratelimit_keys_clear(schema: str) -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"rl:{{{schema}}}:*"))
    if keys:
        client.delete(*keys)
