"""The Python client library (clients/python) against the real ASGI server: every method a
Scalekit user knows, connections, tokens, accounts, audit pages and export, errors, retries."""

from __future__ import annotations

import time

import httpx
import pytest
from vmcp_client import (
    AsyncVmcp,
    MissingConnectedAccountsError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    UnknownToolError,
    ValidationError,
    Vmcp,
)

from tenants.models import Tenant

DEMO = {"connection_name": "demo", "tools": ["demo_add"]}


def _vmcp(live, **kwargs) -> Vmcp:  # noqa: ANN001
    return Vmcp(live.base_url, tenant=live.tenant.slug, api_key=live.api_key, **kwargs)


def test_configs_tokens_and_execute_tool_end_to_end(live_api):
    with _vmcp(live_api) as vmcp:
        connection = vmcp.connections.create("demo", connector="demo", auth_type="none")
        assert connection["name"] == "demo"
        assert [c["name"] for c in vmcp.connections.iter()] == ["demo"]
        assert any(t["name"] == "demo_add" for t in vmcp.connections.tools("demo")["data"])

        config = vmcp.create_config(
            "calculator", description="Adds numbers", connection_tool_mappings=[DEMO]
        )
        assert config["tool_count"] == 1
        assert config["mcp_server_url"].endswith(f"/t/{live_api.tenant.slug}/mcp/{config['id']}")
        vmcp.create_config("second")
        assert [c["name"] for c in vmcp.list_configs(limit=1)["data"]] == ["calculator"]
        assert [c["name"] for c in vmcp.iter_configs()] == ["calculator", "second"]
        assert vmcp.get_config(config["id"])["description"] == "Adds numbers"

        # Only the description: the mappings stay as they were.
        updated = vmcp.update_config(config["id"], description="Adds, for finance")
        assert updated["description"] == "Adds, for finance"
        assert updated["connection_tool_mappings"][0]["tools"] == ["demo_add"]

        readiness = vmcp.list_mcp_connected_accounts(config["id"], "alice")
        assert readiness["ready"] is True
        [entry] = readiness["connections"]
        assert entry["connected_account_status"] == "NOT_REQUIRED"

        minted = vmcp.create_session_token(config["id"], "alice", expiry="15m")
        assert minted["token"].startswith("vmcp_st_") and minted["identifier"] == "alice"
        [listed] = vmcp.tokens.list(config["id"], identifier="alice")["data"]
        assert listed["id"] == minted["id"] and listed["active"] is True
        assert vmcp.tokens.revoke_for_identifier(config["id"], "alice") == 1
        assert list(vmcp.tokens.iter(config["id"], active=True)) == []

        executed = vmcp.execute_tool("demo_add", "alice", {"a": 2, "b": 40})
        assert executed["data"] == {"sum": 42} and executed["is_error"] is False
        scoped = vmcp.execute_tool("demo_add", "alice", {"a": 1, "b": 1}, config_id=config["id"])
        assert scoped["data"] == {"sum": 2}

        # Tenant-wide: every server's tokens of one end user.
        vmcp.create_session_token(config["id"], "alice")
        ended = vmcp.end_users.revoke("alice")
        assert ended == {
            "identifier": "alice",
            "revoked_tokens": 1,
            "servers": 1,
            "revoked_accounts": 0,
        }

        vmcp.delete_config(config["id"])
        with pytest.raises(NotFoundError) as missing:
            vmcp.get_config(config["id"])
        assert missing.value.status == 404


def test_one_exception_class_per_error_code(live_api):
    with _vmcp(live_api) as vmcp:
        vmcp.connections.create("demo", connector="demo", auth_type="none")
        with pytest.raises(UnknownToolError) as unknown:
            vmcp.execute_tool("no_such_tool", "alice")
        assert unknown.value.error_code == "unknown_tool"
        assert isinstance(unknown.value, NotFoundError)  # and its status's class
        with pytest.raises(ValidationError) as invalid:
            vmcp.execute_tool("demo_add", "alice", {"a": 2})
        assert "b" in str(invalid.value.details)
        with pytest.raises(ValidationError):
            vmcp.create_config("Not A Valid Name")


def test_missing_accounts_error_carries_the_connect_links(live_api, fake_providers):  # noqa: ANN001
    with _vmcp(live_api) as vmcp:
        vmcp.connections.create(
            "gmail",
            connector="gmail",
            auth_type="oauth2",
            settings={"client_id": "cid"},
            secrets={"client_secret": "cs"},
        )
        config = vmcp.create_config(
            "mailer", connection_tool_mappings=[{"connection_name": "gmail", "tools": ["*"]}]
        )
        with pytest.raises(MissingConnectedAccountsError) as refused:
            vmcp.create_session_token(config["id"], "alice")
        [missing] = refused.value.details["missing_connections"]
        assert missing["connection_name"] == "gmail"
        [entry] = vmcp.list_mcp_connected_accounts(config["id"], "alice")["connections"]
        assert entry["connected_account_status"] == "PENDING_AUTH"
        assert entry["authentication_link"].startswith("http")
        [account] = vmcp.connected_accounts.list(identifier="alice")["data"]
        assert vmcp.connected_accounts.get(account["id"])["status"] == "PENDING_AUTH"
        assert vmcp.connected_accounts.revoke(account["id"])["status"] == "REVOKED"


def test_audit_iterates_cursor_pages_and_streams_the_export(live_api):
    with _vmcp(live_api) as vmcp:
        vmcp.connections.create("demo", connector="demo", auth_type="none")
        for b in range(3):
            vmcp.execute_tool("demo_add", "audited", {"a": 1, "b": b})
        pages = list(vmcp.audit.pages(identifier="audited", event_type="tool.called", limit=2))
        assert [len(p["data"]) for p in pages] == [2, 1]
        events = list(vmcp.audit.events(identifier="audited", event_type="tool.called", limit=1))
        assert len(events) == 3 and all(e["tool_name"] == "demo_add" for e in events)
        assert vmcp.audit.get(events[0]["id"])["id"] == events[0]["id"]
        records = list(vmcp.audit.export_records(identifier="audited", event_type="tool.called"))
        assert sorted(r["id"] for r in records) == sorted(e["id"] for e in events)
        csv = b"".join(vmcp.audit.export(format="csv", identifier="audited"))
        assert csv.splitlines()[0].startswith(b"id,") and csv.count(b"demo_add") == 3


async def test_async_client_has_the_same_methods(live_api):
    async with AsyncVmcp(
        live_api.base_url, tenant=live_api.tenant.slug, api_key=live_api.api_key
    ) as vmcp:
        await vmcp.connections.create("demo", connector="demo", auth_type="none")
        config = await vmcp.create_config("calculator", connection_tool_mappings=[DEMO])
        assert [c["name"] async for c in vmcp.iter_configs()] == ["calculator"]
        minted = await vmcp.create_session_token(config["id"], "bob", expiry="60s")
        assert minted["identifier"] == "bob"
        executed = await vmcp.execute_tool("demo_add", "bob", {"a": 1, "b": 1})
        assert executed["data"] == {"sum": 2}
        events = [e async for e in vmcp.audit.events(identifier="bob", limit=1)]
        assert {e["event_type"] for e in events} >= {"token.minted", "tool.called"}
        chunks = [c async for c in vmcp.audit.export(format="jsonl", identifier="bob")]
        assert b"tool.called" in b"".join(chunks)
        with pytest.raises(UnknownToolError):
            await vmcp.execute_tool("nope", "bob")
        await vmcp.delete_config(config["id"])


def test_429_is_retried_after_the_servers_retry_after(live_api, django_db_blocker):
    # 60 a minute: a burst of 60, then one call a second; the 61st waits Retry-After: 1.
    with django_db_blocker.unblock():
        Tenant.objects.filter(pk=live_api.tenant.pk).update(rate_limit_per_minute=60)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with _vmcp(live_api, sleep=sleep) as vmcp, _vmcp(live_api, retry=RetryPolicy(0)) as once:
        vmcp.connections.create("demo", connector="demo", auth_type="none")
        with pytest.raises(RateLimitedError) as limited:
            # The burst refills by one a second while it runs: a few more than 60 get through.
            for _ in range(200):
                once.execute_tool("demo_add", "burst", {"a": 1, "b": 1})
        assert limited.value.retry_after == 1.0
        assert limited.value.details["scope"] == "tenant"
        assert vmcp.execute_tool("demo_add", "burst", {"a": 1, "b": 1})["data"] == {"sum": 2}
    assert waits and waits[0] == 1.0


# ---------------------------------------------------------------- the retry policy by itself
# (What vmcp does not produce on demand — a 503, an HTTP-date Retry-After, a dropped connection —
# answered by httpx's mock transport: the client's own behaviour, not the server's.)


def _mocked(handler, **kwargs) -> tuple[Vmcp, list[float]]:  # noqa: ANN001
    waits: list[float] = []
    client = Vmcp(
        "http://vmcp.test",
        tenant="t",
        api_key="vmcp_sk_x",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=waits.append,
        **kwargs,
    )
    return client, waits


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": code, "details": {}}}
    return httpx.Response(status, json=body, headers=headers or {})


def test_503_is_retried_with_backoff_then_raised():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return _error(503, "service_unavailable")

    client, waits = _mocked(handler, retry=RetryPolicy(max_retries=2, backoff=1.0))
    from vmcp_client import ServiceUnavailableError

    with pytest.raises(ServiceUnavailableError):
        client.get_config("c")
    assert len(calls) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # doubling, with jitter


def test_retry_after_as_an_http_date_and_a_too_long_wait_is_raised_not_slept():
    from email.utils import formatdate

    answers = [
        _error(503, "service_unavailable", {"Retry-After": formatdate(time.time() + 5)}),
        httpx.Response(200, json={"id": "c"}),
    ]
    client, waits = _mocked(lambda request: answers.pop(0))
    assert client.get_config("c") == {"id": "c"}
    assert 3.0 <= waits[0] <= 5.0

    client, waits = _mocked(lambda request: _error(429, "rate_limited", {"Retry-After": "3600"}))
    with pytest.raises(RateLimitedError) as limited:
        client.get_config("c")
    assert limited.value.retry_after == 3600.0 and waits == []


def test_a_post_is_not_resent_after_a_dropped_connection():
    from vmcp_client import TransportError

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("dropped", request=request)

    client, _ = _mocked(handler)
    with pytest.raises(TransportError):
        client.execute_tool("demo_add", "alice")
    assert calls == ["POST"]
    calls.clear()
    with pytest.raises(TransportError):
        client.get_config("c")
    assert calls == ["GET"] * 4


def test_an_unknown_code_falls_back_to_its_status_class():
    client, _ = _mocked(lambda request: _error(409, "brand_new_conflict"))
    from vmcp_client import ConflictError

    with pytest.raises(ConflictError) as conflict:
        client.get_config("c")
    assert conflict.value.error_code == "brand_new_conflict"


def test_every_error_code_the_api_raises_has_its_own_class():
    """A code added to the server without a class in the client fails here."""
    import re

    from vmcp_client import ERRORS_BY_CODE

    from tests.conftest import BASE_DIR

    # Codes that never reach the REST API: audit-only outcomes and the end-user connect pages.
    not_api = {
        "tool_error",
        "provider_401",
        "state_unknown",
        "invalid_grant",
        "no_refresh_token",
        "refresh_failed",
        "link_not_found",
        "link_used",
        "link_revoked",
        "link_expired",
        # The MCP endpoint's own (JSON-RPC errors and audit outcomes, never a REST answer).
        "too_many_subscriptions",
        "upstream_protocol_error",
    }
    pattern = re.compile(r'\bcode\s*=\s*"([a-z_0-9]+)"')
    raised: set[str] = set()
    for app in ("accounts", "audit", "configs", "connectors", "gateway", "tenants", "vault"):
        for path in (BASE_DIR / app).rglob("*.py"):
            if "migrations" not in path.parts:
                raised |= set(pattern.findall(path.read_text()))
    base = (BASE_DIR / "vmcp_platform" / "errors.py").read_text()
    raised |= set(re.findall(r'^\s+code = "([a-z_0-9]+)"', base, re.M))
    missing = sorted(raised - not_api - set(ERRORS_BY_CODE))
    assert missing == [], f"no client exception class for: {missing}"


def test_a_credential_move_is_refused_until_confirmed_and_a_preview_stores_nothing(
    live_api, django_db_blocker
):
    from django_tenants.utils import tenant_context
    from vmcp_client import CredentialsWouldMoveError

    from accounts.services.accounts import account_get_or_create, account_store_api_key
    from configs.models import Connection
    from tests.connectors.openapi.support import PETSTORE, document

    vmcp = _vmcp(live_api)
    doc = document(PETSTORE)
    vmcp.connections.create(
        name="pets",
        connector="openapi",
        auth_type="api_key",
        settings={
            "document": doc,
            "server_url": "http://127.0.0.1:9/v2",
            "security_scheme": "api_key",
        },
    )
    with django_db_blocker.unblock(), tenant_context(live_api.tenant):
        connection = Connection.objects.get(name="pets")
        account = account_get_or_create(connection=connection, identifier="alice", actor="t")
        account_store_api_key(account=account, api_key="key-of-alice", actor="t")

    smaller = {**doc, "paths": {k: v for k, v in doc["paths"].items() if k != "/pet/{petId}"}}
    preview = vmcp.connections.preview_openapi("pets", {"document": smaller})
    assert preview["removed"] and not preview["added"]
    # Nothing stored by the preview: the removed tool is still there.
    stored = vmcp.connections.tools("pets", limit=500)["data"]
    assert set(preview["removed"]) <= {t["name"] for t in stored}

    # Another host (both are allowed loopback names here): the users' keys would go there.
    elsewhere = {"server_url": "http://localhost:9/v2"}
    with pytest.raises(CredentialsWouldMoveError) as refused:
        vmcp.connections.update("pets", settings=elsewhere)
    assert refused.value.status == 409
    assert vmcp.connections.get("pets")["settings"]["server_url"] == "http://127.0.0.1:9/v2"
    moved = vmcp.connections.update("pets", settings=elsewhere, confirm_credential_move=True)
    assert moved["settings"]["server_url"] == "http://localhost:9/v2"
