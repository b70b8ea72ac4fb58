# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
"""No value from the wire can make a tool run without its audit row, on both wires.

NUL bytes, control characters, lone surrogates and oversize values in every stored field (the
JSON-RPC id, the tool name, ``_meta.agentRunId``, ``clientInfo``, the REST identifier and
names), sent raw to the real daphne app (the SDK would not send them), against the real
PostgreSQL and Redis. An executed call always has exactly one ``tool.called`` row; a refused one
a ``tool.denied`` row; the answer is always JSON.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings
from django_tenants.utils import tenant_context

from tests.gateway.test_mcp_support import (  # noqa: F401
    LEGACY,
    MODERN,
    legacy_initialize,
    mcp_live,
    modern_meta,
)

# (case, raw JSON text of the id, what the audit row stores)
IDS = [
    ("nul", '"run\\u0000id"', "runid"),
    ("controls", '"a\\u0001\\u001f\\nb"', "ab"),
    ("lone-surrogate", '"a\\ud800b"', "a?b"),
    ("oversize", json.dumps("x" * 100_000), "x" * 64),
    ("huge-int", str(10**30), str(10**30)),
    ("min-int64", str(-(2**63)), str(-(2**63))),
    ("zero", "0", "0"),
]
# (case, raw JSON text of agentRunId, what the audit row stores)
AGENT_RUN_IDS = [
    ("nul", '"run\\u0000-1"', "run-1"),
    ("lone-surrogate", '"run\\udfff"', "run?"),
    ("controls", '"r\\u0007\\u001bun"', "run"),
    ("oversize", json.dumps("r" * 100_000), "r" * 128),
]


def _post(live, wire: str, method: str, params_json: str, id_json: str = "7") -> httpx.Response:
    """One raw request whose params/id are given as JSON text (so anything can be sent)."""
    token = live.tokens["alice"]
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if wire == "legacy":
        session_id = legacy_initialize(live.url, token).headers["mcp-session-id"]
        headers.update({"Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY})
    else:
        headers.update({"MCP-Protocol-Version": MODERN, "Mcp-Method": method})
        params = json.loads(params_json)
        if method == "tools/call":
            headers["Mcp-Name"] = params["name"]
    body = f'{{"jsonrpc":"2.0","id":{id_json},"method":"{method}","params":{params_json}}}'
    return httpx.post(live.url, content=body.encode(), headers=headers, timeout=30)


def _call_params(
    wire: str, name: str, meta: dict[str, Any] | None = None, raw_meta: str = ""
) -> str:
    base = {**(modern_meta() if wire == "modern" else {}), **(meta or {})}
    meta_json = json.dumps(base)
    if raw_meta:
        meta_json = meta_json[:-1] + ("," if base else "") + raw_meta + "}"
    return f'{{"name":{json.dumps(name)},"arguments":{{"text":"hi"}},"_meta":{meta_json}}}'


def _rows(live, django_db_blocker) -> list[dict[str, Any]]:
    from audit.models import AuditEvent

    with django_db_blocker.unblock(), tenant_context(live.tenant):
        return list(
            AuditEvent.objects.filter(event_type__in=["tool.called", "tool.denied"]).values(
                "event_type", "outcome", "tool_name", "request_id", "agent_run_id", "error_code"
            )
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    return response.json()


@pytest.mark.parametrize("wire", ["legacy", "modern"])
@pytest.mark.parametrize(("case", "id_json", "stored"), IDS, ids=[c[0] for c in IDS])
def test_any_request_id_runs_the_tool_once_with_its_row(
    mcp_live, django_db_blocker, wire, case, id_json, stored
):
    response = _post(mcp_live, wire, "tools/call", _call_params(wire, "echo"), id_json)

    assert response.status_code == 200
    assert _json(response)["result"]["content"] == [{"type": "text", "text": "hi"}]
    [row] = _rows(mcp_live, django_db_blocker)
    assert (row["event_type"], row["outcome"], row["request_id"]) == ("tool.called", "ok", stored)


@pytest.mark.parametrize("wire", ["legacy", "modern"])
@pytest.mark.parametrize(
    ("case", "run_json", "stored"), AGENT_RUN_IDS, ids=[c[0] for c in AGENT_RUN_IDS]
)
def test_any_agent_run_id_runs_the_tool_once_with_its_row(
    mcp_live, django_db_blocker, wire, case, run_json, stored
):
    params = _call_params(wire, "echo", raw_meta=f'"agentRunId":{run_json}')

    response = _post(mcp_live, wire, "tools/call", params)

    assert response.status_code == 200
    assert _json(response)["result"]["content"] == [{"type": "text", "text": "hi"}]
    [row] = _rows(mcp_live, django_db_blocker)
    assert (row["event_type"], row["agent_run_id"]) == ("tool.called", stored)


# Names a header cannot carry (NUL, controls, surrogates) are legacy-only: on the 2026-07-28
# wire the Mcp-Name header must repeat the name, so they are refused before tools/call.
NAMES = [
    ("legacy", "nul", '"echo\\u0000"', "echo"),
    ("legacy", "controls", '"ec\\u0001ho\\n"', "echo"),
    ("legacy", "lone-surrogate", '"echo\\ud800"', "echo?"),
    ("legacy", "one-megabyte", json.dumps("n" * 1_000_000), "n" * 128),
    ("modern", "oversize", json.dumps("n" * 4_000), "n" * 128),
]


@pytest.mark.parametrize(("wire", "case", "name_json", "stored"), NAMES, ids=[n[1] for n in NAMES])
def test_an_unknown_tool_name_is_denied_bounded_and_audited(
    mcp_live, django_db_blocker, wire, case, name_json, stored
):
    name = json.loads(name_json)
    params = _call_params(wire, "x").replace('"name":"x"', f'"name":{name_json}', 1)
    if wire == "modern":
        assert json.loads(params)["name"] == name

    response = _post(mcp_live, wire, "tools/call", params, '"id\\u0000"')

    error = _json(response)["error"]
    assert error["code"] == -32602
    assert error["message"].startswith("Unknown tool: ")
    assert len(error["message"]) <= 160  # the name is echoed bounded, not whole
    assert "\x00" not in error["message"]
    [row] = _rows(mcp_live, django_db_blocker)
    assert row == {
        "event_type": "tool.denied",
        "outcome": "denied",
        "tool_name": stored,
        "request_id": "id",
        "agent_run_id": "",
        "error_code": "unknown_tool",
    }


def test_client_info_is_stored_sanitised_and_bounded(mcp_live, django_db_blocker):
    token = mcp_live.tokens["alice"]
    body = (
        '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"'
        + LEGACY
        + '","capabilities":{},"clientInfo":{"name":"ag\\u0000ent","version":"1\\ud800",'
        + '"title":"\\u0001t"}}}'
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    response = httpx.post(mcp_live.url, content=body.encode(), headers=headers, timeout=30)
    session_id = response.headers["mcp-session-id"]
    huge = body.replace('"title":"\\u0001t"', '"title":' + json.dumps("t" * 100_000))
    huge_response = httpx.post(mcp_live.url, content=huge.encode(), headers=headers, timeout=30)

    stored = redis.Redis.from_url(settings.REDIS_URL)
    session = json.loads(stored.get(f"vmcp:mcp:session:{session_id}"))
    assert session["client_info"] == {"name": "agent", "version": "1?", "title": "t"}
    # Oversize client metadata is refused outright and stores nothing (tests/gateway/
    # test_mcp_limits.py covers the bound itself).
    assert huge_response.status_code == 400
    assert huge_response.json()["error"]["code"] == -32602
    assert "mcp-session-id" not in huge_response.headers
    headers.update({"Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY})
    call = httpx.post(
        mcp_live.url,
        json={
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hi"}},
        },
        headers=headers,
        timeout=30,
    )
    assert call.json()["result"]["content"] == [{"type": "text", "text": "hi"}]
    assert [row["event_type"] for row in _rows(mcp_live, django_db_blocker)] == ["tool.called"]


# ---------------------------------------------------------------- REST execute_tool

REST_FIELDS = [
    ("identifier-nul", {"identifier": "al\x00ice"}),
    ("identifier-control", {"identifier": "al\x01ice"}),
    ("identifier-oversize", {"identifier": "a" * 256}),
    ("tool-name-nul", {"tool_name": "demo_echo\x00"}),
    ("tool-name-control", {"tool_name": "demo_echo\x1b"}),
    ("tool-name-oversize", {"tool_name": "t" * 1_000_000}),
    ("connection-name-control", {"connection_name": "demo\x07"}),
    ("connection-name-oversize", {"connection_name": "d" * 101}),
    ("agent-run-id-nul", {"agent_run_id": "run\x00"}),
    ("agent-run-id-control", {"agent_run_id": "run\x08"}),
    ("agent-run-id-oversize", {"agent_run_id": "r" * 129}),
]


@pytest.mark.parametrize(("case", "override"), REST_FIELDS, ids=[f[0] for f in REST_FIELDS])
def test_execute_tool_refuses_unstorable_values_with_400_and_runs_nothing(
    mcp_live, django_db_blocker, case, override
):
    from tenants.services import api_key_create

    with django_db_blocker.unblock():
        key = api_key_create(tenant=mcp_live.tenant, name="tests", created_by="tests").secret
    body = {
        "tool_name": "demo_echo",
        "identifier": "alice",
        "connection_name": "demo",
        "params": {"text": "hi"},
        **override,
    }

    response = httpx.post(
        f"{mcp_live.base_url}/t/{mcp_live.tenant.slug}/api/v1/execute_tool",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )

    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"]["code"] == "validation_error"
    field = case.rsplit("-", 1)[0].replace("-", "_")
    assert field in response.json()["error"]["details"]
    assert _rows(mcp_live, django_db_blocker) == []
