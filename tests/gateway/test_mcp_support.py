"""Shared set-up for the MCP endpoint tests: a committed tenant served by the real daphne.

``mcp_live`` provisions, in a ``live_tenant``, a ``demo`` connection (no credentials), a
virtual server ``summarizer`` exposing ``demo_echo`` (renamed ``echo``) and ``demo_add``, a
second server ``other`` exposing ``demo_current_time``, and session tokens for alice and bob
on ``summarizer`` and for alice on ``other``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import pytest
from django_tenants.utils import tenant_context

from tenants.models import Tenant

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
CLIENT_INFO = {"name": "vmcp-tests", "version": "1.0"}


@dataclass
class McpLive:
    base_url: str
    tenant: Tenant
    config_id: str
    other_config_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.base_url}/t/{self.tenant.slug}/mcp/{self.config_id}"

    @property
    def other_url(self) -> str:
        return f"{self.base_url}/t/{self.tenant.slug}/mcp/{self.other_config_id}"

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def sdk_http(self, who: str) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=self.auth(who), timeout=30)


def provision(tenant: Tenant) -> tuple[str, str, dict[str, str], dict[str, str]]:
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create

    with tenant_context(tenant):
        connection_create(
            name="demo",
            connector="demo",
            auth_type="none",
            settings={},
            secrets=None,
            actor="tests",
        )
        config = mcp_config_create(
            name="summarizer",
            description="Summarizes things for the tests.",
            mappings=[
                {
                    "connection_name": "demo",
                    "tools": ["demo_echo", "demo_add"],
                    "overrides": {"demo_echo": {"name": "echo", "description": "Echo it back."}},
                }
            ],
            actor="tests",
        )
        other = mcp_config_create(
            name="other",
            mappings=[{"connection_name": "demo", "tools": ["demo_current_time"]}],
            actor="tests",
        )
        tokens, token_ids = {}, {}
        for key, cfg, identifier in (
            ("alice", config, "alice"),
            ("bob", config, "bob"),
            ("alice_other", other, "alice"),
        ):
            minted = session_token_mint(
                config=cfg, identifier=identifier, expiry_seconds=3600, actor="tests"
            )
            tokens[key], token_ids[key] = minted.secret, str(minted.token.pk)
    return str(config.pk), str(other.pk), tokens, token_ids


@pytest.fixture
def mcp_live(live_tenant, live_server_url, django_db_blocker) -> Iterator[McpLive]:  # noqa: ANN001
    with django_db_blocker.unblock():
        config_id, other_id, tokens, token_ids = provision(live_tenant)
    yield McpLive(live_server_url, live_tenant, config_id, other_id, tokens, token_ids)


def modern_meta(capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        "io.modelcontextprotocol/clientCapabilities": capabilities or {},
    }


def modern_post(
    url: str,
    token: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    request_id: int = 1,
) -> httpx.Response:
    """One raw 2026-07-28 request with the headers a conforming client sends."""
    params = (
        {**(params or {}), "_meta": modern_meta()}
        if params is None or "_meta" not in params
        else params
    )
    sent = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    if method == "tools/call":
        sent["Mcp-Name"] = params.get("name", "")
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return httpx.post(url, content=json.dumps(body), headers=sent, timeout=30)


def legacy_initialize(url: str, token: str, **extra_headers: str) -> httpx.Response:
    return httpx.post(
        url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO},
        },
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            **extra_headers,
        },
        timeout=30,
    )


def legacy_post(
    url: str,
    token: str,
    session_id: str,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    request_id: int | None = 2,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    if request_id is not None:
        body["id"] = request_id
    return httpx.post(
        url,
        json=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Mcp-Session-Id": session_id,
            "MCP-Protocol-Version": LEGACY,
            **(headers or {}),
        },
        timeout=30,
    )
