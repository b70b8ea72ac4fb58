# ruff: noqa: F811 - pytest fixtures imported from their support modules
"""Per-user credentials through the real endpoint, driven by the official ``mcp`` client.

Two end users of one virtual server call a Gmail tool (the fake Google asserts whose token
arrived) and an upstream MCP tool with per-user API keys (the upstream's ``whoami`` reports the
credential it got). Revoking one user's account, a connection or the config takes effect on the
next request; the platform's own session token never leaves it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from audit.models import AuditEvent
from tenants.models import Tenant
from tests.fakes.providers import FakeProviders
from tests.gateway.test_execution_support import clear_rate_limits
from tests.upstream.plugin import upstream_mcp  # noqa: F401
from tests.upstream.server import UpstreamServer
from tests.vault.accounts_support import active_account, oauth_connection

MODES = ["auto", "legacy"]
USERS = ("alice", "bob")


@dataclass
class CredsLive:
    base_url: str
    tenant: Tenant
    config_id: str
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    gmail_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.base_url}/t/{self.tenant.slug}/mcp/{self.config_id}"

    def client(self, who: str, mode: str, **options: Any) -> Client:
        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )
        return Client(streamable_http_client(self.url, http_client=http), mode=mode, **options)


def upstream_key(who: str) -> str:
    return f"upstream-key-of-{who}"


def _provision(tenant: Tenant, fake: FakeProviders, upstream: UpstreamServer) -> CredsLive:
    from accounts.services.accounts import account_get_or_create, account_store_api_key
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    live = CredsLive(base_url="", tenant=tenant, config_id="")
    with tenant_context(tenant):
        gmail = oauth_connection(fake, "gmail")
        remote = connection_create(
            name="remote",
            connector="mcp",
            auth_type="api_key",
            settings={"server_url": upstream.url},
            secrets=None,
            actor="tests",
        )
        assert connection_sync_tools(connection=remote, actor="tests")
        for who in USERS:
            _, tokens = active_account(fake, gmail, who)
            live.gmail_tokens[who] = tokens["access_token"]
            account = account_get_or_create(connection=remote, identifier=who, actor="tests")
            account_store_api_key(account=account, api_key=upstream_key(who), actor="tests")
        config = mcp_config_create(
            name="mailbox",
            description="Mail and the remote server.",
            mappings=[
                {"connection_name": "gmail", "tools": ["gmail_fetch_mails"]},
                {"connection_name": "remote", "tools": ["whoami", "slow_progress"]},
            ],
            rate_limit_per_minute=3,
            actor="tests",
        )
        live.config_id = str(config.pk)
        for who in USERS:
            minted = session_token_mint(
                config=config, identifier=who, expiry_seconds=3600, actor="tests"
            )
            live.tokens[who], live.token_ids[who] = minted.secret, str(minted.token.pk)
    return live


@pytest.fixture
def creds_live(
    live_tenant, live_server_url, django_db_blocker, fake_providers, upstream_mcp
) -> Iterator[CredsLive]:
    clear_rate_limits()
    with django_db_blocker.unblock():
        live = _provision(live_tenant, fake_providers, upstream_mcp)
    live.base_url = live_server_url
    yield live
    clear_rate_limits()


def _in_tenant(live: CredsLive, django_db_blocker: Any, work: Any) -> Any:
    def run() -> Any:
        with django_db_blocker.unblock(), tenant_context(live.tenant):
            return work()

    return sync_to_async(run)()


def _audit_rows(live: CredsLive, django_db_blocker: Any, **filters: Any) -> Any:
    return _in_tenant(
        live,
        django_db_blocker,
        lambda: list(
            AuditEvent.objects.filter(**filters)
            .order_by("id")
            .values_list("event_type", "identifier", "tool_name", "outcome", "error_code")
        ),
    )


# ---------------------------------------------------------------- whose credential arrives


@pytest.mark.parametrize("mode", MODES)
async def test_each_user_calls_gmail_with_their_own_token(creds_live, fake_providers, mode):
    for who in ("alice", "bob", "alice"):
        async with creds_live.client(who, mode) as session:
            result = await session.call_tool("gmail_fetch_mails", {"maxResults": 5})
        assert result.is_error is False, result.content
        request = fake_providers.requests[-1]
        assert (request.provider, request.user) == ("google", who)
        assert request.path.startswith("/gmail/v1/users/me/messages")
    assert [r.user for r in fake_providers.requests if r.provider == "google"].count("alice") >= 2


@pytest.mark.parametrize("mode", MODES)
async def test_upstream_gets_each_users_key_and_never_the_session_token(creds_live, mode):
    for who in USERS:
        async with creds_live.client(who, mode) as session:
            result = await session.call_tool("whoami", {})
        assert result.is_error is False, result.content
        assert result.structured_content == {"user": upstream_key(who), "x_api_key": None}
        seen = json.dumps(result.model_dump(mode="json"))
        assert creds_live.tokens[who] not in seen
        assert "vmcp_st_" not in seen


# ---------------------------------------------------------------- revocation fails closed


@pytest.mark.parametrize("mode", MODES)
async def test_revoking_one_users_account_stops_only_that_user_and_is_audited(
    creds_live, fake_providers, django_db_blocker, mode
):
    from accounts.services.accounts import account_revoke
    from vault.models import ConnectedAccount

    async with creds_live.client("alice", mode) as alice, creds_live.client("bob", mode) as bob:
        assert (await alice.call_tool("gmail_fetch_mails", {})).is_error is False

        def revoke() -> None:
            account = ConnectedAccount.objects.get(connection__name="gmail", identifier="alice")
            account_revoke(account=account, actor="tests")

        await _in_tenant(creds_live, django_db_blocker, revoke)
        calls_before = len(fake_providers.requests)

        refused = await alice.call_tool("gmail_fetch_mails", {})
        assert refused.is_error is True
        assert refused.content[0].text == (
            "gmail_fetch_mails failed: 'alice' has no active account on 'gmail'."
        )
        assert refused.meta == {"vmcp/errorCode": "no_active_account"}
        # Nothing reached Google for alice; bob (same session config) still works.
        assert len(fake_providers.requests) == calls_before
        served = await bob.call_tool("gmail_fetch_mails", {})
        assert served.is_error is False
        assert fake_providers.requests[-1].user == "bob"
        # The other connection of alice is untouched by revoking her Gmail account.
        assert (await alice.call_tool("whoami", {})).structured_content["user"] == upstream_key(
            "alice"
        )

    rows = await _audit_rows(
        creds_live,
        django_db_blocker,
        event_type__in=["account.revoked", "tool.denied"],
    )
    assert rows == [
        ("account.revoked", "alice", "", "ok", ""),
        ("tool.denied", "alice", "gmail_fetch_mails", "denied", "no_active_account"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_deleting_a_connection_fails_closed_on_the_next_call(
    creds_live, django_db_blocker, mode
):
    from mcp.shared.exceptions import MCPError

    from configs.models import Connection
    from configs.services.connections import connection_delete

    async with creds_live.client("bob", mode) as bob:
        assert (await bob.call_tool("whoami", {})).is_error is False
        await _in_tenant(
            creds_live,
            django_db_blocker,
            lambda: connection_delete(
                connection=Connection.objects.get(name="remote"), actor="tests"
            ),
        )
        with pytest.raises(MCPError) as refused:
            await bob.call_tool("whoami", {})
        assert refused.value.error.code == -32602
        assert refused.value.error.message == "Unknown tool: whoami"
        # The rest of the config keeps working.
        assert (await bob.call_tool("gmail_fetch_mails", {})).is_error is False


@pytest.mark.parametrize("mode", MODES)
async def test_deleting_the_config_fails_closed_on_the_next_request(
    creds_live, django_db_blocker, mode
):
    from configs.models import McpConfig
    from configs.services.mcp_configs import mcp_config_delete

    async with creds_live.client("alice", mode) as alice:
        assert (await alice.call_tool("whoami", {})).is_error is False
        await _in_tenant(
            creds_live,
            django_db_blocker,
            lambda: mcp_config_delete(
                config=McpConfig.objects.get(pk=creds_live.config_id), actor="tests"
            ),
        )
        with pytest.raises(Exception) as refused:  # noqa: B017 - the SDK wraps the HTTP 401
            await alice.call_tool("whoami", {})
        assert "401" in repr(refused.value) or "Unauthorized" in repr(refused.value)


# ---------------------------------------------------------------- progress and rate limits


@pytest.mark.parametrize("mode", MODES)
async def test_upstream_progress_reaches_the_sdk_client(creds_live, mode):
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with creds_live.client("bob", mode) as bob:
        result = await bob.call_tool("slow_progress", {"steps": 3}, progress_callback=on_progress)
    assert result.is_error is False
    assert result.content[0].text == "done"
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


@pytest.mark.parametrize("mode", MODES)
async def test_rate_limit_is_a_clear_tool_error_with_retry_after(
    creds_live, django_db_blocker, mode
):
    # The config allows 3 calls a minute per user: the 4th is refused, bob is unaffected.
    async with creds_live.client("alice", mode) as alice, creds_live.client("bob", mode) as bob:
        for _ in range(3):
            assert (await alice.call_tool("whoami", {})).is_error is False
        limited = await alice.call_tool("whoami", {})
        assert (await bob.call_tool("whoami", {})).is_error is False
    assert limited.is_error is True
    text = limited.content[0].text
    assert text.startswith("Rate limited: ")
    assert "Retry after " in text and text.endswith(" seconds.")
    retry_after = limited.meta["vmcp/retryAfterSeconds"]
    assert 0 < retry_after <= 60
    denied = await _audit_rows(creds_live, django_db_blocker, event_type="tool.denied")
    assert denied == [("tool.denied", "alice", "whoami", "denied", "rate_limited")]
