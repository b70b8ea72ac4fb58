# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
"""Server notifications and multi-process sessions, against real daphne processes."""

from __future__ import annotations

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
