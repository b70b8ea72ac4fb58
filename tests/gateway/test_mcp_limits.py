"""One token (or one stranger) cannot exhaust what every tenant shares: bounded session records,
session and stream counts per token and tenant, handshake rate limits, and failed bearer
authentications throttled per source and audited in aggregate. Real daphne, Redis, PostgreSQL.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context

from tests.conftest import PASSWORD, run_daphne
from tests.gateway.test_mcp_support import (
    CLIENT_INFO,
    LEGACY,
    McpLive,
    legacy_initialize,
    legacy_post,
    modern_post,
    provision,
)

LIMITS_ENV = {
    "VMCP_MCP_SESSIONS_PER_TOKEN": "3",
    "VMCP_MCP_SESSIONS_PER_TENANT": "5",
    "VMCP_MCP_STREAMS_PER_TOKEN": "2",
    "VMCP_MCP_STREAMS_PER_TENANT": "3",
    "VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TOKEN": "5",
    "VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TENANT": "1000",
    "VMCP_AUTH_FAILURES_PER_WINDOW": "5",
    # Sources are simulated with X-Forwarded-For, as one trusted proxy would set it.
    "VMCP_TRUSTED_PROXY_COUNT": "1",
}


@pytest.fixture(scope="module")
def limited_url(django_db_setup, django_db_blocker) -> Iterator[str]:  # noqa: ANN001
    with django_db_blocker.unblock(), run_daphne(extra_env=LIMITS_ENV) as url:
        yield url


@pytest.fixture
def live(live_tenant, limited_url, django_db_blocker) -> McpLive:  # noqa: ANN001
    with django_db_blocker.unblock():
        config_id, other_id, tokens, token_ids = provision(live_tenant)
    return McpLive(limited_url, live_tenant, config_id, other_id, tokens, token_ids)


@pytest.fixture
def second_live(limited_url, django_db_blocker) -> Iterator[McpLive]:  # noqa: ANN001
    from tenants.services import tenant_create, tenant_delete

    slug = f"live-limits-other-{random.randrange(10**6)}"
    with django_db_blocker.unblock():
        tenant = tenant_create(
            slug=slug, name=slug, owner_email=f"owner@{slug}.test", owner_password=PASSWORD
        )
        connection.set_schema_to_public()
        config_id, other_id, tokens, token_ids = provision(tenant)
        try:
            yield McpLive(limited_url, tenant, config_id, other_id, tokens, token_ids)
        finally:
            connection.set_schema_to_public()
            tenant_delete(tenant=tenant)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _session_keys() -> set[bytes]:
    return set(_redis().scan_iter(match="vmcp:mcp:session:*", count=1000))


def _initialize(url: str, token: str, capabilities: object, client_info: object) -> httpx.Response:
    return httpx.post(
        url,
        content=json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": LEGACY,
                    "capabilities": capabilities,
                    "clientInfo": client_info,
                },
            }
        ),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        },
        timeout=60,
    )


# ---------------------------------------------------------------- what a session stores


def test_a_flood_of_huge_initializes_is_refused_and_stores_nothing(live):
    before = _session_keys()
    huge = {"experimental": {f"k{i}": "x" * 1024 for i in range(3 * 1024)}}  # ~3 MiB
    codes = []
    for _ in range(8):
        response = _initialize(live.url, live.tokens["alice"], huge, CLIENT_INFO)
        # Refused as too large until the token's handshake allowance (5) is gone, then as such.
        assert response.status_code in {400, 429}
        codes.append(response.json()["error"]["code"])
        assert "mcp-session-id" not in response.headers
    assert codes == [-32602] * 5 + [-32002] * 3
    # A huge clientInfo is the same story.
    response = _initialize(live.url, live.tokens["bob"], {}, {"name": "n" * (3 * 1024 * 1024)})
    assert response.json()["error"]["code"] == -32602
    assert _session_keys() == before


def test_a_session_keeps_only_capability_flags_and_a_short_client_info(live):
    capabilities = {
        "roots": {"listChanged": True},
        "sampling": {},
        "experimental": {"blob": {"data": "y" * 5000, "n": 1}},
        "z" * 65: {},  # a name nobody uses, too long to be one: dropped
    }
    client_info = {"name": "c" * 500, "version": "1.0\x00", "extra": "e" * 1000}
    response = _initialize(live.url, live.tokens["alice"], capabilities, client_info)
    assert response.status_code == 200
    session_id = response.headers["mcp-session-id"]
    key = f"vmcp:mcp:session:{session_id}"
    stored = json.loads(_redis().get(key))
    assert stored["client_capabilities"] == {
        "roots": {"listChanged": True},
        "sampling": {},
        "experimental": {"blob": {"data": {}, "n": {}}},
    }
    assert stored["client_info"] == {"name": "c" * 128, "version": "1.0"}
    assert _redis().memory_usage(key) < 2048
    # The session works.
    assert legacy_post(live.url, live.tokens["alice"], session_id, "ping").status_code == 200


# ---------------------------------------------------------------- how many sessions


def test_beyond_its_bound_a_token_loses_its_least_recently_used_session(live):
    token = live.tokens["alice"]
    ids = [legacy_initialize(live.url, token).headers["mcp-session-id"] for _ in range(3)]
    # Use the first one, so the second is now the least recently used.
    assert legacy_post(live.url, token, ids[0], "ping").status_code == 200
    fourth = legacy_initialize(live.url, token)
    assert fourth.status_code == 200
    assert legacy_post(live.url, token, ids[1], "ping").status_code == 404
    for session_id in (ids[0], ids[2], fourth.headers["mcp-session-id"]):
        assert legacy_post(live.url, token, session_id, "ping").status_code == 200


def test_beyond_its_bound_a_tenant_refuses_new_sessions_and_other_tenants_do_not_care(
    live, second_live
):
    for _ in range(3):
        assert legacy_initialize(live.url, live.tokens["alice"]).status_code == 200
    for _ in range(2):
        assert legacy_initialize(live.url, live.tokens["bob"]).status_code == 200
    # Five live sessions: the tenant's bound. Bob's third and a token on another config: refused.
    others = ((live.url, live.tokens["bob"]), (live.other_url, live.tokens["alice_other"]))
    for url, token in others:
        refused = legacy_initialize(url, token)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == -32002
        assert error["data"]["scope"] == "tenant"
    # Alice at her own bound evicts her oldest instead: the tenant's count does not grow.
    assert legacy_initialize(live.url, live.tokens["alice"]).status_code == 200
    # The other tenant is not affected at all.
    for _ in range(3):
        assert legacy_initialize(second_live.url, second_live.tokens["alice"]).status_code == 200


# ---------------------------------------------------------------- how many streams


def _open_get_stream(stack: ExitStack, live: McpLive, who: str) -> httpx.Response:
    token = live.tokens[who]
    url = live.url if who != "alice_other" else live.other_url
    session_id = legacy_initialize(url, token).headers["mcp-session-id"]
    client = stack.enter_context(httpx.Client(timeout=20))
    return stack.enter_context(
        client.stream(
            "GET",
            url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "text/event-stream",
                "Mcp-Session-Id": session_id,
                "MCP-Protocol-Version": LEGACY,
            },
        )
    )


def _open_listen(stack: ExitStack, live: McpLive, who: str) -> httpx.Response:
    from tests.gateway.test_mcp_support import MODERN, modern_meta

    client = stack.enter_context(httpx.Client(timeout=20))
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "subscriptions/listen",
        "params": {"notifications": {"toolsListChanged": True}, "_meta": modern_meta()},
    }
    return stack.enter_context(
        client.stream(
            "POST",
            live.url,
            content=json.dumps(body),
            headers={
                "Authorization": f"Bearer {live.tokens[who]}",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "subscriptions/listen",
            },
        )
    )


def test_open_streams_are_bounded_per_token_and_per_tenant_and_closing_frees_a_slot(
    live, second_live
):
    with ExitStack() as alice_streams, ExitStack() as others:
        assert _open_get_stream(alice_streams, live, "alice").status_code == 200
        assert _open_listen(alice_streams, live, "alice").status_code == 200
        # Alice's third stream, of either kind: her token's bound.
        for opener in (_open_get_stream, _open_listen):
            refused = opener(others, live, "alice")
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            refused.read()
            assert json.loads(refused.text)["error"]["data"]["scope"] == "token"
        assert _open_get_stream(others, live, "bob").status_code == 200
        # Three open in the tenant: its bound, whoever asks.
        refused = _open_get_stream(others, live, "alice_other")
        assert refused.status_code == 429
        refused.read()
        assert json.loads(refused.text)["error"]["data"]["scope"] == "tenant"
        # Another tenant is not affected.
        assert _open_listen(others, second_live, "alice").status_code == 200
        alice_streams.close()
        # Alice's streams ended: their slots are free again (released, not left to expire).
        deadline = time.monotonic() + 10
        while (reopened := _open_listen(others, live, "alice")).status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert reopened.status_code == 200


# ---------------------------------------------------------------- handshake rate limits


def test_initialize_and_discover_let_exactly_the_burst_through(live):
    def initialize(_: int) -> httpx.Response:
        return legacy_initialize(live.url, live.tokens["bob"])

    def discover(_: int) -> httpx.Response:
        return modern_post(live.url, live.tokens["alice"], "server/discover", {})

    for call in (initialize, discover):
        with ThreadPoolExecutor(8) as pool:
            statuses = [r.status_code for r in pool.map(call, range(8))]
        assert sorted(statuses) == [200] * 5 + [429] * 3, call.__name__
    refused = discover(0)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == -32002
    assert int(refused.headers["retry-after"]) >= 1
    # Another token of the tenant has its own allowance.
    other = modern_post(live.other_url, live.tokens["alice_other"], "server/discover", {})
    assert other.status_code == 200


# ---------------------------------------------------------------- failed authentications


def _auth_failed_rows(tenant) -> list:  # noqa: ANN001
    from audit.models import AuditEvent

    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(event_type="auth.failed").order_by("id"))


def test_failed_bearer_flood_on_mcp_is_throttled_per_source_and_audited_in_aggregate(
    live, django_db_blocker
):
    from vmcp_platform import tokens

    attacker = f"203.0.113.{random.randrange(1, 250)}"
    neighbour = f"198.51.100.{random.randrange(1, 250)}"

    def post(token: str, source: str) -> httpx.Response:
        return modern_post(live.url, token, "tools/list", {}, headers={"X-Forwarded-For": source})

    bad = tokens.generate(tokens.SESSION_TOKEN_PREFIX)
    for _ in range(5):
        assert post(bad, attacker).status_code == 401
    throttled = post(bad, attacker)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["error"]["code"] == -32002
    # A valid token from the same (perhaps shared) address still gets in.
    assert post(live.tokens["alice"], attacker).status_code == 200
    # Another source is not affected.
    assert post(live.tokens["alice"], neighbour).status_code == 200
    assert post(bad, neighbour).status_code == 401

    with django_db_blocker.unblock():
        rows = _auth_failed_rows(live.tenant)
    by_source = {row.extra["source"]: row for row in rows}
    assert len(rows) == 2
    assert by_source[attacker].extra["count"] == 5
    assert by_source[attacker].extra["throttled"] is True
    assert by_source[attacker].error_code == "invalid_token"
    assert by_source[neighbour].extra["count"] == 1
    assert bad not in str([row.extra for row in rows])
