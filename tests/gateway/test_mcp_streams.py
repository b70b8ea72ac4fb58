# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
"""Server notifications and multi-process sessions, against real daphne processes."""

from __future__ import annotations

import json
import threading
import time

import httpx
from django_tenants.utils import tenant_context

from tests.conftest import run_daphne
from tests.gateway.test_mcp_support import LEGACY, legacy_initialize, legacy_post, mcp_live  # noqa: F401


def test_metadata_view_needs_no_auth(client, db):
    response = client.get(
        "/.well-known/oauth-protected-resource/t/acme/mcp/6f1d2a52-6e5b-4a55-9a49-1d8f5e0e7c11"
    )
    assert response.status_code == 200


def test_admin_edit_reaches_an_open_get_stream_as_list_changed(mcp_live, django_db_blocker):
    from configs.models import McpConfig
    from configs.services.mcp_configs import mcp_config_update

    token = mcp_live.tokens["alice"]
    session_id = legacy_initialize(mcp_live.url, token).headers["mcp-session-id"]
    received: list[str] = []
    opened = threading.Event()

    def listen() -> None:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "text/event-stream",
            "Mcp-Session-Id": session_id,
            "MCP-Protocol-Version": LEGACY,
        }
        with httpx.stream("GET", mcp_live.url, headers=headers, timeout=20) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                opened.set()
                if line.startswith("data:"):
                    received.append(line)
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(10)
    time.sleep(0.3)
    with django_db_blocker.unblock(), tenant_context(mcp_live.tenant):
        config = McpConfig.objects.get(pk=mcp_live.config_id)
        mcp_config_update(
            config=config,
            mappings=[{"connection_name": "demo", "tools": ["demo_echo"]}],
            actor="tests",
        )
    thread.join(15)
    assert received == ['data: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}']


def test_a_session_started_on_one_process_continues_on_another(mcp_live, django_db_blocker):
    token = mcp_live.tokens["bob"]
    session_id = legacy_initialize(mcp_live.url, token).headers["mcp-session-id"]
    with django_db_blocker.unblock(), run_daphne() as second:
        url = mcp_live.url.replace(mcp_live.base_url, second)
        response = legacy_post(
            url, token, session_id, "tools/call", {"name": "echo", "arguments": {"text": "b"}}
        )
        assert response.status_code == 200
        assert response.json()["result"]["content"] == [{"type": "text", "text": "b"}]
        deleted = httpx.delete(
            url, headers={"Authorization": f"Bearer {token}", "Mcp-Session-Id": session_id}
        )
        assert deleted.status_code == 204
    assert legacy_post(mcp_live.url, token, session_id, "ping").status_code == 404


def _stream_until_closed(
    url: str, headers: dict[str, str], opened: threading.Event, closed_at: list[float]
) -> None:
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        opened.set()
        for _ in response.iter_bytes():
            pass
    closed_at.append(time.monotonic())


def test_revoking_a_token_closes_its_open_get_stream_at_once(mcp_live, django_db_blocker):
    from configs.models import SessionToken
    from configs.services.tokens import session_token_revoke

    token = mcp_live.tokens["alice"]
    session_id = legacy_initialize(mcp_live.url, token).headers["mcp-session-id"]
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "text/event-stream",
        "Mcp-Session-Id": session_id,
        "MCP-Protocol-Version": LEGACY,
    }
    opened, closed_at = threading.Event(), []
    bob_opened, bob_closed_at = threading.Event(), []
    bob_session = legacy_initialize(mcp_live.url, mcp_live.tokens["bob"]).headers["mcp-session-id"]
    bob_headers = {
        **headers,
        "Authorization": f"Bearer {mcp_live.tokens['bob']}",
        "Mcp-Session-Id": bob_session,
    }
    threads = [
        threading.Thread(
            target=_stream_until_closed, args=(mcp_live.url, headers, opened, closed_at)
        ),
        threading.Thread(
            target=_stream_until_closed,
            args=(mcp_live.url, bob_headers, bob_opened, bob_closed_at),
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    assert opened.wait(10) and bob_opened.wait(10)
    time.sleep(0.3)
    revoked_at = time.monotonic()
    with django_db_blocker.unblock(), tenant_context(mcp_live.tenant):
        token_row = SessionToken.objects.get(pk=mcp_live.token_ids["alice"])
        session_token_revoke(token=token_row, actor="tests")
    threads[0].join(10)
    # Well before the 15 s heartbeat re-check: the revocation is pushed to the stream.
    assert closed_at and closed_at[0] - revoked_at < 3
    # Another user's stream of the same config stays open.
    assert bob_closed_at == []
    assert legacy_post(mcp_live.url, token, session_id, "ping").status_code == 401


def test_revoking_a_token_ends_its_modern_listen_stream(mcp_live, django_db_blocker):
    from configs.models import SessionToken
    from configs.services.tokens import session_token_revoke
    from tests.gateway.test_mcp_support import MODERN, modern_meta

    token = mcp_live.tokens["bob"]
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "subscriptions/listen",
        "params": {"notifications": {"toolsListChanged": True}, "_meta": modern_meta()},
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "subscriptions/listen",
    }
    lines: list[str] = []
    opened = threading.Event()
    closed_at: list[float] = []

    def listen() -> None:
        with httpx.stream(
            "POST", mcp_live.url, content=json.dumps(body), headers=headers, timeout=30
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data:"):
                    lines.append(line)
                    opened.set()
        closed_at.append(time.monotonic())

    thread = threading.Thread(target=listen)
    thread.start()
    assert opened.wait(10)
    revoked_at = time.monotonic()
    with django_db_blocker.unblock(), tenant_context(mcp_live.tenant):
        session_token_revoke(
            token=SessionToken.objects.get(pk=mcp_live.token_ids["bob"]), actor="tests"
        )
    thread.join(10)
    assert closed_at and closed_at[0] - revoked_at < 3
    first, last = json.loads(lines[0][5:]), json.loads(lines[-1][5:])
    assert first["method"] == "notifications/subscriptions/acknowledged"
    assert last["id"] == 7 and last["result"]["resultType"] == "complete"
