# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
"""When the database refuses or disappears: rows are kept, answers stay JSON-RPC, streams close.

Real daphne processes: one on the suite's database, one pointed at a closed port (no database
at all), and one behind a TCP proxy the test cuts (the database lost mid-way).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection
from django_tenants.utils import tenant_context

from tests.conftest import free_port, run_daphne
from tests.gateway.dbproxy import DbProxy
from tests.gateway.test_mcp_support import (  # noqa: F401
    LEGACY,
    MODERN,
    legacy_initialize,
    legacy_post,
    mcp_live,
    modern_meta,
    modern_post,
)

MARKER = "refuse-this-row"
SPOOL_KEY = "vmcp:audit:spool"  # audit.spool.SPOOL_KEY


@pytest.fixture
def refusing_audit_table(mcp_live, django_db_blocker) -> Iterator[None]:
    """A trigger in the tenant's schema that makes PostgreSQL refuse the marked audit row."""
    schema = connection.ops.quote_name(mcp_live.tenant.schema_name)
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE FUNCTION {schema}.refuse_marked_audit() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN IF NEW.agent_run_id = '{MARKER}' THEN"
            " RAISE EXCEPTION 'audit insert refused by the test'; END IF; RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_marked_audit BEFORE INSERT ON {schema}.audit_auditevent"
            f" FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_marked_audit()"
        )
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS refuse_marked_audit ON {schema}.audit_auditevent")


def _called_rows(live, django_db_blocker) -> list[dict]:
    from audit.models import AuditEvent

    with django_db_blocker.unblock(), tenant_context(live.tenant):
        return list(
            AuditEvent.objects.filter(event_type="tool.called").values("agent_run_id", "extra")
        )


@pytest.mark.parametrize("wire", ["legacy", "modern"])
def test_a_refused_audit_row_is_spooled_and_the_agent_still_gets_the_result(
    mcp_live, refusing_audit_table, django_db_blocker, wire
):
    spool = redis.Redis.from_url(settings.REDIS_URL)
    spool.delete(SPOOL_KEY)
    params = {"name": "echo", "arguments": {"text": "once"}, "_meta": {"agentRunId": MARKER}}
    token = mcp_live.tokens["alice"]
    if wire == "legacy":
        session_id = legacy_initialize(mcp_live.url, token).headers["mcp-session-id"]
        response = legacy_post(mcp_live.url, token, session_id, "tools/call", params)
    else:
        params["_meta"].update(modern_meta())
        response = modern_post(mcp_live.url, token, "tools/call", params)

    # The tool ran: the agent gets its result, not an error inviting a second run.
    assert response.json()["result"]["content"] == [{"type": "text", "text": "once"}]
    assert _called_rows(mcp_live, django_db_blocker) == []
    from audit.tasks import drain_spool
    from vmcp_platform.celery import app

    assert spool.llen(SPOOL_KEY) == 1
    spooled = spool.lrange(SPOOL_KEY, 0, 0)[0]

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        schema = connection.ops.quote_name(mcp_live.tenant.schema_name)
        cursor.execute(f"DROP TRIGGER refuse_marked_audit ON {schema}.audit_auditevent")
    assert app.conf.beat_schedule["audit-drain-spool"]["task"] == "audit.tasks.drain_spool"
    with django_db_blocker.unblock():
        assert drain_spool() == 1
        spool.rpush(SPOOL_KEY, spooled)  # drained twice (a crash before the pop): still one row
        drain_spool()

    [row] = _called_rows(mcp_live, django_db_blocker)
    assert row["agent_run_id"] == MARKER
    assert uuid.UUID(row["extra"]["execution_id"])
    assert spool.llen(SPOOL_KEY) == 0


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["code"] == -32001


def _requests(base: str, slug: str, config_id: str, token: str | None) -> list[httpx.Response]:
    url = f"{base}/t/{slug}/mcp/{config_id}"
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    modern = modern_post(url, token, "tools/list")
    legacy = httpx.post(
        url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {}},
        },
        headers={**auth, "Accept": "application/json, text/event-stream"},
        timeout=30,
    )
    return [modern, legacy]


def test_without_a_database_every_mcp_request_is_a_json_rpc_503(django_db_blocker, live_tenant):
    dead = {"DATABASE_URL": f"postgresql://root@127.0.0.1:{free_port()}/nowhere"}
    with django_db_blocker.unblock(), run_daphne(extra_env=dead) as base:
        config_id = str(uuid.uuid4())
        for token in ("vmcp_st_not-checked-without-a-database", None):
            for response in _requests(base, live_tenant.slug, config_id, token):
                _assert_unavailable(response)


@pytest.mark.parametrize("wire", ["legacy", "modern"])
def test_an_unexpected_failure_is_a_json_rpc_error_not_html(mcp_live, django_db_blocker, wire):
    from configs.models import ToolMapping

    token = mcp_live.tokens["alice"]
    session_id = legacy_initialize(mcp_live.url, token).headers["mcp-session-id"]
    schema = connection.ops.quote_name(mcp_live.tenant.schema_name)
    table = ToolMapping._meta.db_table
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # Schema drift no handler expects: tools/list hits a missing relation.
        cursor.execute(f'ALTER TABLE {schema}."{table}" RENAME TO "{table}_gone"')
    try:
        if wire == "legacy":
            response = legacy_post(mcp_live.url, token, session_id, "tools/list", request_id=9)
        else:
            response = modern_post(mcp_live.url, token, "tools/list", request_id=9)
    finally:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE {schema}."{table}_gone" RENAME TO "{table}"')

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": -32603, "message": "Internal error"},
    }


def _read_stream(
    url: str,
    headers: dict[str, str],
    body: dict | None,
    lines: list[str],
    opened: threading.Event,
    closed: threading.Event,
) -> None:
    method = "POST" if body is not None else "GET"
    try:
        with httpx.stream(method, url, headers=headers, json=body, timeout=30) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                opened.set()
                lines.append(line)
    finally:
        closed.set()


def _last_data(lines: list[str]) -> dict:
    return json.loads([line for line in lines if line.startswith("data: ")][-1][6:])


def test_open_streams_close_when_the_database_is_lost(mcp_live, django_db_blocker):
    db = connection.settings_dict
    proxy = DbProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    env = {
        "DATABASE_URL": f"postgresql://{db['USER']}@127.0.0.1:{proxy.port}/x",
        "VMCP_MCP_STREAM_HEARTBEAT_SECONDS": "0.5",
    }
    token = mcp_live.tokens["alice"]
    try:
        with django_db_blocker.unblock(), run_daphne(extra_env=env) as base:
            url = mcp_live.url.replace(mcp_live.base_url, base)
            session_id = legacy_initialize(url, token).headers["mcp-session-id"]
            auth = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
            legacy_headers = {**auth, "Mcp-Session-Id": session_id, "MCP-Protocol-Version": LEGACY}
            listen = {
                "jsonrpc": "2.0",
                "id": "sub-1",
                "method": "subscriptions/listen",
                "params": {"notifications": {"toolsListChanged": True}, "_meta": modern_meta()},
            }
            modern_headers = {
                **auth,
                "Content-Type": "application/json",
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "subscriptions/listen",
            }
            streams = {}
            for wire, headers, body in (
                ("legacy", legacy_headers, None),
                ("modern", modern_headers, listen),
            ):
                lines: list[str] = []
                opened, closed = threading.Event(), threading.Event()
                threading.Thread(
                    target=_read_stream,
                    args=(url, headers, body, lines, opened, closed),
                    daemon=True,
                ).start()
                assert opened.wait(10), wire
                streams[wire] = (lines, closed)
            threading.Event().wait(1.2)  # a few healthy heartbeats: the streams stay open
            assert not any(closed.is_set() for _, closed in streams.values())

            proxy.cut()

            for wire, (_, closed) in streams.items():
                assert closed.wait(10), f"the {wire} stream stayed open without its database"
            legacy_last = _last_data(streams["legacy"][0])
            assert legacy_last["method"] == "notifications/message"
            assert legacy_last["params"]["data"]["error"]["code"] == -32001
            modern_last = _last_data(streams["modern"][0])
            assert modern_last["id"] == "sub-1"
            assert modern_last["error"]["code"] == -32001
            # New requests, authenticated or not, get the same JSON-RPC 503 while it is gone.
            for who in (token, None):
                for response in _requests(base, mcp_live.tenant.slug, mcp_live.config_id, who):
                    _assert_unavailable(response)

            proxy.restore()
            reply = modern_post(url, token, "tools/list")
            assert reply.status_code == 200
            assert [t["name"] for t in reply.json()["result"]["tools"]] == ["echo", "demo_add"]
    finally:
        proxy.close()
