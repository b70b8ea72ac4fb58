# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
"""The endpoint's HTTP contract, byte by byte: auth, origin, versions, headers, sessions."""

from __future__ import annotations

import httpx
import pytest
from django_tenants.utils import tenant_context

from tests.gateway.test_mcp_support import (  # noqa: F401
    LEGACY,
    MODERN,
    legacy_initialize,
    legacy_post,
    mcp_live,
    modern_meta,
    modern_post,
)


def test_metadata_for_an_unknown_tenant_is_404(client, db):
    response = client.get(
        "/.well-known/oauth-protected-resource/t/nope/mcp/6f1d2a52-6e5b-4a55-9a49-1d8f5e0e7c11"
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer vmcp_st_" + "A" * 46],
)
def test_missing_or_bad_token_is_401_with_resource_metadata(mcp_live, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = modern_post(mcp_live.url, None, "tools/list", headers=headers)
    assert response.status_code == 401
    expected = (
        f'Bearer resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource'
        f'/t/{mcp_live.tenant.slug}/mcp/{mcp_live.config_id}"'
    )
    assert response.headers["www-authenticate"].startswith(expected)
    assert "vmcp_st_" not in response.text


def test_token_in_query_string_is_not_accepted(mcp_live):
    response = modern_post(mcp_live.url + f"?token={mcp_live.tokens['alice']}", None, "tools/list")
    assert response.status_code == 401


def test_revoked_and_expired_tokens_are_401(mcp_live, django_db_blocker):
    from django.utils import timezone

    from configs.models import SessionToken
    from configs.services.tokens import session_token_revoke

    with django_db_blocker.unblock(), tenant_context(mcp_live.tenant):
        session_token_revoke(
            token=SessionToken.objects.get(pk=mcp_live.token_ids["alice"]), actor="tests"
        )
        SessionToken.objects.filter(pk=mcp_live.token_ids["bob"]).update(expires_at=timezone.now())
    for who in ("alice", "bob"):
        response = modern_post(mcp_live.url, mcp_live.tokens[who], "tools/list")
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_unknown_tenant_is_404(mcp_live):
    url = mcp_live.url.replace(f"/t/{mcp_live.tenant.slug}/", "/t/no-such-tenant/")
    assert modern_post(url, mcp_live.tokens["alice"], "tools/list").status_code == 404


def test_trailing_slash_is_served_without_redirect(mcp_live):
    response = modern_post(mcp_live.url + "/", mcp_live.tokens["alice"], "tools/list")
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["result"]["tools"]] == ["echo", "demo_add"]


def test_evil_origin_is_403_and_bad_host_is_refused(mcp_live):
    token = mcp_live.tokens["alice"]
    evil = modern_post(mcp_live.url, token, "tools/list", headers={"Origin": "http://evil.test"})
    assert evil.status_code == 403
    host = modern_post(mcp_live.url, token, "tools/list", headers={"Host": "evil.test"})
    assert host.status_code == 421
    port = mcp_live.base_url.rsplit(":", 1)[1]
    same = modern_post(
        mcp_live.url, token, "tools/list", headers={"Origin": f"http://127.0.0.1:{port}"}
    )
    assert same.status_code == 200


def test_modern_header_mismatch_is_400_32020(mcp_live):
    response = modern_post(
        mcp_live.url, mcp_live.tokens["alice"], "tools/list", headers={"Mcp-Method": "tools/call"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020
    assert response.json()["id"] == 1


def test_modern_name_header_must_match_the_tool(mcp_live):
    response = modern_post(
        mcp_live.url,
        mcp_live.tokens["alice"],
        "tools/call",
        {"name": "echo", "arguments": {"text": "x"}, "_meta": modern_meta()},
        headers={"Mcp-Name": "demo_add"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020


def test_unsupported_version_is_400_32022_with_the_supported_list(mcp_live):
    meta = {**modern_meta(), "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    response = modern_post(
        mcp_live.url,
        mcp_live.tokens["alice"],
        "tools/list",
        {"_meta": meta},
        headers={"MCP-Protocol-Version": "2099-01-01"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022
    assert error["data"]["requested"] == "2099-01-01"
    assert MODERN in error["data"]["supported"] and LEGACY in error["data"]["supported"]


def test_modern_tools_list_carries_caching_hints_and_result_type(mcp_live):
    result = modern_post(mcp_live.url, mcp_live.tokens["alice"], "tools/list").json()["result"]
    assert result["cacheScope"] == "private"
    assert result["ttlMs"] == 30000
    assert result["resultType"] == "complete"


def test_bad_cursor_is_32602(mcp_live):
    response = modern_post(
        mcp_live.url,
        mcp_live.tokens["alice"],
        "tools/list",
        {"cursor": "not-a-cursor", "_meta": modern_meta()},
    )
    assert response.json()["error"]["code"] == -32602


def test_array_body_is_400(mcp_live):
    response = httpx.post(
        mcp_live.url,
        json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}],
        headers={
            **{"Authorization": f"Bearer {mcp_live.tokens['alice']}"},
            "Accept": "application/json, text/event-stream",
        },
    )
    assert response.status_code == 400


def test_get_and_delete_on_the_stateless_wire_are_405(mcp_live):
    headers = {
        "Authorization": f"Bearer {mcp_live.tokens['alice']}",
        "MCP-Protocol-Version": MODERN,
        "Accept": "text/event-stream",
    }
    assert httpx.get(mcp_live.url, headers=headers).status_code == 405
    assert httpx.delete(mcp_live.url, headers=headers).status_code == 405


def test_accepting_neither_json_nor_sse_is_406(mcp_live):
    response = modern_post(
        mcp_live.url, mcp_live.tokens["alice"], "tools/list", headers={"Accept": "text/html"}
    )
    assert response.status_code == 406


def test_legacy_session_lifecycle(mcp_live):
    token = mcp_live.tokens["alice"]
    init = legacy_initialize(mcp_live.url, token)
    assert init.status_code == 200
    session_id = init.headers["mcp-session-id"]
    assert all(0x21 <= ord(c) <= 0x7E for c in session_id)
    assert (
        legacy_post(
            mcp_live.url, token, session_id, "notifications/initialized", request_id=None
        ).status_code
        == 202
    )
    assert legacy_post(mcp_live.url, token, session_id, "ping").json()["result"] == {}
    assert legacy_post(mcp_live.url, token, session_id, "nope/nope").json()["error"]["code"] == (
        -32601
    )
    deleted = httpx.delete(
        mcp_live.url, headers={"Authorization": f"Bearer {token}", "Mcp-Session-Id": session_id}
    )
    assert deleted.status_code == 204
    assert legacy_post(mcp_live.url, token, session_id, "ping").status_code == 404


def test_legacy_request_without_session_is_400_and_unknown_session_404(mcp_live):
    token = mcp_live.tokens["alice"]
    response = httpx.post(
        mcp_live.url,
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert legacy_post(mcp_live.url, token, "no-such-session", "ping").status_code == 404


def test_session_reused_with_another_users_token_is_refused(mcp_live):
    session_id = legacy_initialize(mcp_live.url, mcp_live.tokens["alice"]).headers["mcp-session-id"]
    stolen = legacy_post(mcp_live.url, mcp_live.tokens["bob"], session_id, "tools/list")
    assert stolen.status_code == 404
    own = legacy_post(mcp_live.url, mcp_live.tokens["alice"], session_id, "tools/list")
    assert own.status_code == 200


def test_unsupported_legacy_version_header_is_400(mcp_live):
    token = mcp_live.tokens["alice"]
    session_id = legacy_initialize(mcp_live.url, token).headers["mcp-session-id"]
    response = legacy_post(
        mcp_live.url, token, session_id, "ping", headers={"MCP-Protocol-Version": "1999-01-01"}
    )
    assert response.status_code == 400


def test_initialize_offers_latest_version_for_an_unknown_one(mcp_live):
    response = httpx.post(
        mcp_live.url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {}},
        },
        headers={"Authorization": f"Bearer {mcp_live.tokens['alice']}"},
    )
    assert response.json()["result"]["protocolVersion"] == LEGACY
