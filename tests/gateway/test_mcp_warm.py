# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
"""The warm MCP path (gateway/warm) against the ORM path, and the invariants it must keep.

Real daphne processes (warm on, warm off), PostgreSQL and Redis. The same refusal matrix runs
against both paths and must answer identically; revocations and edits are seen on the next
request by two warm processes; PostgreSQL or Redis gone → refused, never served from what a
process read before; a web process killed with SIGKILL mid-load loses no audit row of a call
its client saw complete; two tenants interleaved at high concurrency never cross.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.db import connection as db
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from configs.models import McpConfig, SessionToken
from tenants.models import Tenant
from tests.conftest import BASE_DIR, _wait_for, free_port, live_env, run_daphne
from tests.gateway.test_mcp_support import (  # noqa: F401
    MODERN,
    McpLive,
    mcp_live,
    modern_meta,
    modern_post,
    provision,
)


@pytest.fixture(scope="module")
def orm_url(django_db_setup, django_db_blocker) -> Iterator[str]:  # noqa: ANN001
    with django_db_blocker.unblock(), run_daphne(extra_env={"VMCP_MCP_WARM_PATH": "0"}) as url:
        yield url


@pytest.fixture(scope="module")
def second_url(django_db_setup, django_db_blocker) -> Iterator[str]:  # noqa: ANN001
    with django_db_blocker.unblock(), run_daphne(extra_env={"VMCP_MCP_WARM_PATH": "1"}) as url:
        yield url


def _url(base: str, live: McpLive, config_id: str | None = None, slug: str | None = None) -> str:
    return f"{base}/t/{slug or live.tenant.slug}/mcp/{config_id or live.config_id}"


def _call(url: str, token: str | None, name: str, arguments: Any, **kw: Any) -> httpx.Response:
    return modern_post(url, token, "tools/call", {"name": name, "arguments": arguments}, **kw)


def _shape(response: httpx.Response) -> tuple[int, Any]:
    """Status and body without what differs per call (execution ids)."""
    body = response.json() if response.content else None
    text = json.dumps(body, sort_keys=True)
    return response.status_code, json.loads(text.replace('"execution_id"', '"x"'))


def _warm_backends() -> int:
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vmcp-warm'"
            " AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def _rows(live: McpLive, **filters: Any) -> list[AuditEvent]:
    with tenant_context(live.tenant):
        return list(AuditEvent.objects.filter(**filters).order_by("id"))


# ------------------------------------------------------------------ the same matrix, both paths


def test_warm_and_orm_paths_answer_every_case_identically(mcp_live, orm_url, django_db_blocker):
    warm = mcp_live.base_url
    live = mcp_live
    with django_db_blocker.unblock(), tenant_context(live.tenant):
        SessionToken.objects.filter(pk=live.token_ids["bob"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    cases: list[tuple[str, Any]] = [
        ("ok", lambda base: _call(_url(base, live), live.tokens["alice"], "echo", {"text": "hi"})),
        (
            "bad arguments",
            lambda base: _call(_url(base, live), live.tokens["alice"], "demo_add", {"a": 1}),
        ),
        (
            "unknown tool",
            lambda base: _call(_url(base, live), live.tokens["alice"], "demo_echo", {}),
        ),
        (
            "list",
            lambda base: modern_post(_url(base, live), live.tokens["alice"], "tools/list", {}),
        ),
        ("expired", lambda base: _call(_url(base, live), live.tokens["bob"], "echo", {})),
        (
            "other config's token",
            lambda base: _call(_url(base, live), live.tokens["alice_other"], "echo", {}),
        ),
        ("malformed", lambda base: _call(_url(base, live), "vmcp_st_nope", "echo", {})),
        ("no token", lambda base: _call(_url(base, live), None, "echo", {})),
        (
            "unknown tenant",
            lambda base: _call(_url(base, live, slug="no-such"), live.tokens["alice"], "echo", {}),
        ),
        (
            "bad config id",
            lambda base: _call(_url(base, live, "nope"), live.tokens["alice"], "echo", {}),
        ),
    ]
    for label, send in cases:
        assert _shape(send(warm)) == _shape(send(orm_url)), label
    with django_db_blocker.unblock():
        assert _warm_backends() > 0  # the warm daphne answered through its own pool
        Tenant.objects.filter(pk=live.tenant.pk).update(rate_limit_per_minute=0)
    try:
        limited = [
            _call(_url(b, live), live.tokens["alice"], "echo", {"text": "x"})
            for b in (warm, orm_url)
        ]
        assert _shape(limited[0]) == _shape(limited[1])
        assert limited[0].json()["result"]["isError"] is True
        with django_db_blocker.unblock():
            Tenant.objects.filter(pk=live.tenant.pk).update(status=Tenant.Status.SUSPENDED)
        suspended = [
            _call(_url(b, live), live.tokens["alice"], "echo", {}) for b in (warm, orm_url)
        ]
        assert [r.status_code for r in suspended] == [404, 404]
        assert _shape(suspended[0]) == _shape(suspended[1])
    finally:
        with django_db_blocker.unblock():
            Tenant.objects.filter(pk=live.tenant.pk).update(
                rate_limit_per_minute=600, status=Tenant.Status.ACTIVE
            )
    with django_db_blocker.unblock():
        rows = _rows(live)
    # Both paths audited the same events: ok, bad arguments, unknown tool, rate limited (×2 each).
    kinds = sorted(
        (r.event_type, r.outcome, r.error_code) for r in rows if r.event_type[:5] == "tool."
    )
    assert kinds == sorted(
        [
            ("tool.called", "ok", ""),
            ("tool.denied", "denied", "validation_error"),
            ("tool.denied", "denied", "unknown_tool"),
            ("tool.denied", "denied", "rate_limited"),
        ]
        * 2
    )


# ------------------------------------------------------------------ fresh on every process


def test_revocation_and_edits_are_seen_on_the_next_request_by_every_process(
    mcp_live, second_url, django_db_blocker
):
    from configs.services.mcp_configs.writes import mcp_config_update
    from configs.services.tokens import session_token_revoke

    live = mcp_live
    bases = (live.base_url, second_url)
    for base in bases:  # both processes warm: slug map and tool index cached
        assert (
            _call(_url(base, live), live.tokens["alice"], "echo", {"text": "x"}).json()["result"][
                "isError"
            ]
            is False
        )
    with django_db_blocker.unblock(), tenant_context(live.tenant):
        config = McpConfig.objects.get(pk=live.config_id)
        mcp_config_update(
            config=config,
            mappings=[{"connection_name": "demo", "tools": ["demo_add"]}],
            actor="tests",
        )
    for base in bases:
        refused = _call(_url(base, live), live.tokens["alice"], "echo", {"text": "x"})
        assert refused.json()["error"]["message"] == "Unknown tool: echo"
        listed = modern_post(_url(base, live), live.tokens["alice"], "tools/list", {})
        assert [t["name"] for t in listed.json()["result"]["tools"]] == ["demo_add"]
    with django_db_blocker.unblock(), tenant_context(live.tenant):
        session_token_revoke(token=SessionToken.objects.get(pk=live.token_ids["alice"]), actor="t")
    for base in bases:
        revoked = _call(_url(base, live), live.tokens["alice"], "demo_add", {"a": 1, "b": 2})
        assert revoked.status_code == 401
        ok = _call(_url(base, live), live.tokens["bob"], "demo_add", {"a": 1, "b": 2})
        assert ok.json()["result"]["structuredContent"] == {"sum": 3}
    with django_db_blocker.unblock(), tenant_context(live.tenant):
        McpConfig.objects.filter(pk=live.config_id).delete()
    for base in bases:
        assert _call(_url(base, live), live.tokens["bob"], "demo_add", {"a": 1}).status_code == 401


def test_a_tenant_recreated_under_the_same_slug_is_a_new_tenant(
    mcp_live, second_url, django_db_blocker, request
):
    live = mcp_live
    slug = f"{live.tenant.slug[:40]}-re"
    with django_db_blocker.unblock():
        first = _new_tenant(slug)
        config_id, _other, tokens, _ids = provision(first)
        db.set_schema_to_public()
    url = f"{second_url}/t/{slug}/mcp/{config_id}"
    assert _call(url, tokens["alice"], "echo", {"text": "x"}).status_code == 200
    with django_db_blocker.unblock():
        _drop(first, django_db_blocker)
    assert _call(url, tokens["alice"], "echo", {}).status_code == 404
    with django_db_blocker.unblock():
        again = _new_tenant(slug)
        request.addfinalizer(lambda: _drop(again, django_db_blocker))
        new_config, _other, new_tokens, _ids = provision(again)
        db.set_schema_to_public()
    assert _call(url, tokens["alice"], "echo", {}).status_code == 401  # the old token
    fresh = _call(
        f"{second_url}/t/{slug}/mcp/{new_config}", new_tokens["alice"], "echo", {"text": "y"}
    )
    assert fresh.json()["result"]["content"][0]["text"] == "y"


def _new_tenant(slug: str) -> Tenant:
    from tenants.services import tenant_create, tenant_delete

    existing = Tenant.objects.filter(slug=slug).first()
    if existing:
        tenant_delete(tenant=existing)
    tenant = tenant_create(
        slug=slug, name=slug, owner_email=f"o@{slug}.test", owner_password="x" * 16
    )
    db.set_schema_to_public()
    return tenant


# ------------------------------------------------------------------ dependencies down


class _Proxy:
    """A TCP proxy to PostgreSQL that the test can cut (every connection, and new ones)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                if not self.open:  # cut while this one was being set up
                    for s in (client, upstream):
                        s.close()
                    return
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        with self.lock:
            self.open = False
        self.server.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def _database_url(port: int) -> str:
    settings = db.settings_dict
    user = settings.get("USER") or "root"
    return f"postgresql://{user}@127.0.0.1:{port}/{settings['NAME']}"


def test_postgresql_gone_refuses_never_serves_from_what_was_read(mcp_live, django_db_blocker):
    live = mcp_live
    proxy = _Proxy((db.settings_dict.get("HOST") or "127.0.0.1", int(db.settings_dict["PORT"])))
    env = {"DATABASE_URL": _database_url(proxy.port), "VMCP_MCP_WARM_PATH": "1"}
    with django_db_blocker.unblock(), run_daphne(extra_env=env) as base:
        url = _url(base, live)
        assert (
            _call(url, live.tokens["alice"], "echo", {"text": "x"}).json()["result"]["isError"]
            is False
        )
        assert modern_post(url, live.tokens["alice"], "tools/list", {}).status_code == 200
        proxy.cut()
        calls = (("tools/call", {"name": "echo", "arguments": {}}), ("tools/list", {}))
        for method, params in calls:
            refused = modern_post(url, live.tokens["alice"], method, params)
            assert refused.status_code == 503, refused.text
            assert "database" in refused.text.lower()


def test_redis_gone_refuses_the_call(mcp_live, django_db_blocker):
    live = mcp_live
    env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "VMCP_MCP_WARM_PATH": "1"}
    with django_db_blocker.unblock(), run_daphne(extra_env=env) as base:
        refused = _call(_url(base, live), live.tokens["alice"], "echo", {"text": "x"})
    body = refused.json()
    assert "error" in body and body["error"]["data"]["code"] == "service_unavailable", body
    with django_db_blocker.unblock():
        rows = _rows(live, event_type__startswith="tool.")
    assert [r.error_code for r in rows] == ["service_unavailable"]


# ------------------------------------------------------------------ durability, isolation


@contextmanager
def _daphne_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "vmcp_platform.asgi:application",
        ],
        cwd=BASE_DIR,
        env={**live_env(), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", process)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def _load(url: str, tokens: list[str], total: int, concurrency: int, marker: str) -> list:
    done: list[tuple[int, str, str]] = []  # (index, token index, echoed text) of completed calls
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": "echo",
    }

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            text = f"{marker}-{i}"
            body = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": text}, "_meta": modern_meta()},
            }
            try:
                response = await client.post(
                    url,
                    content=json.dumps(body),
                    headers={**headers, "Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                )
                result = response.json()["result"]
            except (httpx.HTTPError, KeyError, ValueError):
                continue
            if result.get("isError") is False:
                done.append((i, str(i % len(tokens)), result["content"][0]["text"]))

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return done


def test_kill_9_mid_load_loses_no_audit_row_of_a_completed_call(mcp_live, django_db_blocker):
    live = mcp_live
    with django_db_blocker.unblock(), _daphne_process({"VMCP_MCP_WARM_PATH": "1"}) as (base, proc):
        url = _url(base, live)

        async def run() -> list:
            load = asyncio.ensure_future(
                _load(url, [live.tokens["alice"], live.tokens["bob"]], 400, 16, "k")
            )
            while True:
                await asyncio.sleep(0.05)
                count = await asyncio.to_thread(_count, live.tenant.schema_name)
                if count >= 40 or load.done():
                    break
            os.kill(proc.pid, signal.SIGKILL)
            return await load

        done = asyncio.run(run())
    assert 0 < len(done) < 400
    with django_db_blocker.unblock():
        audited = {r.request_id for r in _rows(live, event_type="tool.called", outcome="ok")}
    missing = [i for i, _who, _text in done if str(i) not in audited]
    assert missing == []


def test_two_tenants_interleaved_at_high_concurrency_never_cross(
    mcp_live, django_db_blocker, request
):
    live = mcp_live
    slug = f"{live.tenant.slug[:40]}-two"
    with django_db_blocker.unblock():
        other = _new_tenant(slug)
        request.addfinalizer(lambda: _drop(other, django_db_blocker))
        other_config, _o, other_tokens, _ids = provision(other)
        db.set_schema_to_public()
    urls = {"a": _url(live.base_url, live), "b": f"{live.base_url}/t/{slug}/mcp/{other_config}"}
    tokens = {"a": live.tokens["alice"], "b": other_tokens["bob"]}

    async def run() -> dict[str, list]:
        a, b = await asyncio.gather(
            _load(urls["a"], [tokens["a"]], 100, 16, "tenant-a"),
            _load(urls["b"], [tokens["b"]], 100, 16, "tenant-b"),
        )
        return {"a": a, "b": b}

    done = asyncio.run(run())
    for key, calls in done.items():
        assert len(calls) == 100
        assert all(text == f"tenant-{key}-{i}" for i, _w, text in calls)
    with django_db_blocker.unblock():
        rows_a = _rows(live, event_type="tool.called")
        with tenant_context(other):
            rows_b = list(AuditEvent.objects.filter(event_type="tool.called"))
    assert len(rows_a) == len(rows_b) == 100
    assert {(r.identifier, str(r.config_id)) for r in rows_a} == {("alice", live.config_id)}
    assert {(r.identifier, str(r.config_id)) for r in rows_b} == {("bob", other_config)}


def _count(schema: str) -> int:
    import psycopg

    settings = db.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings.get("USER") or None,
        host=settings.get("HOST") or None,
        port=settings.get("PORT") or None,
    ) as conn:
        return conn.execute(f'SELECT count(*) FROM "{schema}".audit_auditevent').fetchone()[0]


def _drop(tenant: Tenant, blocker: Any) -> None:
    from tenants.services import tenant_delete

    with blocker.unblock():
        db.set_schema_to_public()
        tenant_delete(tenant=tenant)
