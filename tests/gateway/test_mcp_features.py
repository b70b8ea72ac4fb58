# ruff: noqa: F811 - pytest fixtures imported from their support modules
"""An upstream's prompts and resources through the real endpoint, with the official client.

Alice and bob use one virtual server that exposes some of an upstream's prompts and resources
(by name, URI and URI template) with per-user API keys; the upstream reports whose key it got.
What the mapping does not allow does not exist (the same error as a URI nobody has), never
reaches the upstream, and is audited; capabilities follow the mappings; revoking an account
fails closed for that user only. Both wires: ``auto`` (2026-07-28) and ``legacy`` (2025-11-25).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference

from audit.models import AuditEvent
from tenants.models import Tenant
from tests.gateway.test_execution_support import clear_rate_limits
from tests.upstream.features import FeaturesUpstream, features_upstream  # noqa: F401

MODES = ["auto", "legacy"]
USERS = ("alice", "bob")


@dataclass
class FeaturesLive:
    base_url: str
    tenant: Tenant
    config_ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def client(self, who: str, mode: str, config: str = "notes") -> Client:
        token = self.tokens[(config, who)]
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        url = f"{self.base_url}/t/{self.tenant.slug}/mcp/{self.config_ids[config]}"
        return Client(streamable_http_client(url, http_client=http), mode=mode)


def upstream_key(who: str) -> str:
    return f"upstream-key-of-{who}"


def _provision(tenant: Tenant, upstream: FeaturesUpstream) -> FeaturesLive:
    from accounts.services.accounts import account_get_or_create, account_store_api_key
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    live = FeaturesLive(base_url="", tenant=tenant)
    with tenant_context(tenant):
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
            account = account_get_or_create(connection=remote, identifier=who, actor="tests")
            account_store_api_key(account=account, api_key=upstream_key(who), actor="tests")
        notes = mcp_config_create(
            name="notes",
            mappings=[
                {
                    "connection_name": "remote",
                    "tools": ["echo", "touch"],
                    "prompts": ["greet"],
                    "resources": ["memo://mine", "notes://{note_id}"],
                }
            ],
            actor="tests",
        )
        tools_only = mcp_config_create(
            name="tools-only",
            mappings=[{"connection_name": "remote", "tools": ["echo"]}],
            actor="tests",
        )
        for name, config in (("notes", notes), ("tools-only", tools_only)):
            live.config_ids[name] = str(config.pk)
            for who in USERS:
                minted = session_token_mint(
                    config=config, identifier=who, expiry_seconds=3600, actor="tests"
                )
                live.tokens[(name, who)] = minted.secret
    return live


@pytest.fixture
def features_live(
    live_tenant, live_server_url, django_db_blocker, features_upstream
) -> Iterator[FeaturesLive]:
    clear_rate_limits()
    with django_db_blocker.unblock():
        live = _provision(live_tenant, features_upstream)
    live.base_url = live_server_url
    yield live
    clear_rate_limits()


def _in_tenant(live: FeaturesLive, django_db_blocker: Any, work: Any) -> Any:
    def run() -> Any:
        with django_db_blocker.unblock(), tenant_context(live.tenant):
            return work()

    return sync_to_async(run)()


def _audit_rows(live: FeaturesLive, django_db_blocker: Any) -> Any:
    return _in_tenant(
        live,
        django_db_blocker,
        lambda: list(
            AuditEvent.objects.filter(event_type__in=["tool.called", "tool.denied"])
            .order_by("id")
            .values_list(
                "event_type", "identifier", "connection_name", "tool_name", "outcome", "error_code"
            )
        ),
    )


# ---------------------------------------------------------------- lists: the allowed set only


@pytest.mark.parametrize("mode", MODES)
async def test_lists_show_only_what_the_mapping_allows(features_live, mode):
    async with features_live.client("alice", mode) as alice:
        prompts = await alice.list_prompts()
        resources = await alice.list_resources()
        templates = await alice.list_resource_templates()
    assert [p.name for p in prompts.prompts] == ["greet"]
    assert [str(r.uri) for r in resources.resources] == ["memo://mine"]
    assert [t.uri_template for t in templates.resource_templates] == ["notes://{note_id}"]


@pytest.mark.parametrize("mode", MODES)
async def test_capabilities_reflect_the_mappings(features_live, mode):
    async with features_live.client("alice", mode) as alice:
        caps = alice.server_capabilities
    assert caps.prompts is not None
    assert caps.resources is not None
    assert caps.completions is not None
    assert caps.tools is not None

    async with features_live.client("alice", mode, config="tools-only") as alice:
        caps = alice.server_capabilities
        assert (await alice.list_prompts()).prompts == []
        assert (await alice.list_resources()).resources == []
    assert caps.tools is not None
    assert caps.prompts is None
    assert caps.resources is None
    assert caps.completions is None


# ---------------------------------------------------------------- per-user credential


@pytest.mark.parametrize("mode", MODES)
async def test_each_user_reads_and_gets_with_their_own_key(features_live, features_upstream, mode):
    for who in ("alice", "bob", "alice"):
        async with features_live.client(who, mode) as session:
            memo = await session.read_resource("memo://mine")
            note = await session.read_resource("notes://42")
            prompt = await session.get_prompt("greet", {"person": "carol"})
        assert memo.contents[0].text == "the team memo"
        assert note.contents[0].text == f"note 42 for {upstream_key(who)}"
        assert prompt.messages[0].content.text == f"{upstream_key(who)} greets carol"
        assert "vmcp_st_" not in memo.model_dump_json() + prompt.model_dump_json()


@pytest.mark.parametrize("mode", MODES)
async def test_completion_is_relayed_for_an_allowed_prompt_and_template(features_live, mode):
    async with features_live.client("bob", mode) as bob:
        by_prompt = await bob.complete(
            PromptReference(type="ref/prompt", name="greet"), {"name": "person", "value": "al"}
        )
        by_template = await bob.complete(
            ResourceTemplateReference(type="ref/resource", uri="notes://{note_id}"),
            {"name": "note_id", "value": "b"},
        )
        with pytest.raises(MCPError) as refused:
            await bob.complete(
                PromptReference(type="ref/prompt", name="admin_only"),
                {"name": "x", "value": ""},
            )
    assert by_prompt.completion.values == ["alice", "albert"]
    assert by_template.completion.values == ["bob"]
    assert refused.value.error.code == -32602
    assert refused.value.error.message == "Unknown prompt: admin_only"


# ---------------------------------------------------------------- default-deny


@pytest.mark.parametrize("mode", MODES)
async def test_what_the_mapping_does_not_allow_does_not_exist_and_is_audited(
    features_live, features_upstream, django_db_blocker, mode
):
    async with features_live.client("alice", mode) as alice:
        answers = []
        for uri in ("memo://secret", "files://passwd", "memo://nobody-has-this"):
            with pytest.raises(MCPError) as refused:
                await alice.read_resource(uri)
            answers.append((refused.value.error.code, refused.value.error.message))
            assert refused.value.error.data == {"uri": uri}
        with pytest.raises(MCPError) as prompt_refused:
            await alice.get_prompt("admin_only")
    # A disallowed resource is answered exactly like one that does not exist anywhere.
    assert answers == [(-32602, "Resource not found")] * 3
    assert prompt_refused.value.error.code == -32602
    assert prompt_refused.value.error.message == "Unknown prompt: admin_only"
    # None of them reached the upstream.
    assert features_upstream.calls == []
    rows = await _audit_rows(features_live, django_db_blocker)
    assert rows == [
        ("tool.denied", "alice", "", "resources/read memo://secret", "denied", "unknown_resource"),
        ("tool.denied", "alice", "", "resources/read files://passwd", "denied", "unknown_resource"),
        (
            "tool.denied",
            "alice",
            "",
            "resources/read memo://nobody-has-this",
            "denied",
            "unknown_resource",
        ),
        ("tool.denied", "alice", "", "prompts/get admin_only", "denied", "unknown_prompt"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_uri_stepping_out_of_its_template_family_never_reaches_the_upstream(
    features_live, features_upstream, mode
):
    # alice's mapping exposes notes://{note_id}; a '..' or an encoded '/' is not a note id.
    uris = ["notes://..", "notes://..%2F..%2Fsecret", "notes://%2e%2e"]
    async with features_live.client("alice", mode) as alice:
        for uri in uris:
            with pytest.raises(MCPError) as refused:
                await alice.read_resource(uri)
            assert (refused.value.error.code, refused.value.error.message) == (
                -32602,
                "Resource not found",
            )
            assert refused.value.error.data == {"uri": uri}
    assert features_upstream.calls == []


@pytest.mark.parametrize("mode", MODES)
async def test_relayed_requests_are_audited_like_tool_calls(features_live, django_db_blocker, mode):
    async with features_live.client("bob", mode) as bob:
        await bob.read_resource("notes://7")
        await bob.get_prompt("greet", {"person": "dan"})
    rows = await _audit_rows(features_live, django_db_blocker)
    assert rows == [
        ("tool.called", "bob", "remote", "resources/read notes://7", "ok", ""),
        ("tool.called", "bob", "remote", "prompts/get greet", "ok", ""),
    ]

    def extras() -> list[dict[str, Any]]:
        return [e.extra for e in AuditEvent.objects.filter(event_type="tool.called").order_by("id")]

    first, second = await _in_tenant(features_live, django_db_blocker, extras)
    assert (first["method"], first["target"]) == ("resources/read", "notes://7")
    assert (second["method"], second["target"]) == ("prompts/get", "greet")
    assert first["execution_id"] != second["execution_id"]


async def test_an_oversized_uri_is_refused_and_audited_bounded(features_live, django_db_blocker):
    async with features_live.client("alice", "legacy") as alice:
        with pytest.raises(MCPError) as refused:
            await alice.read_resource("memo://" + "x" * 5000)
    assert refused.value.error.code == -32602
    rows = await _audit_rows(features_live, django_db_blocker)
    assert len(rows) == 1 and len(rows[0][3]) == 128


# ---------------------------------------------------------------- subscriptions (2025-11-25)


async def test_subscribe_is_relayed_for_an_allowed_resource_only(features_live, features_upstream):
    async with features_live.client("alice", "legacy") as alice:
        assert alice.server_capabilities.resources.subscribe is True
        await alice.subscribe_resource("memo://mine")
        await alice.unsubscribe_resource("memo://mine")
        with pytest.raises(MCPError) as refused:
            await alice.subscribe_resource("memo://secret")
    assert refused.value.error.code == -32602
    assert features_upstream.calls == [
        ("resources/subscribe", "memo://mine"),
        ("resources/unsubscribe", "memo://mine"),
    ]


async def _wait_for(predicate: Any, seconds: float = 10) -> bool:
    for _ in range(int(seconds * 20)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_an_upstream_update_reaches_the_subscriber_only(features_live, features_upstream):
    updates: dict[str, list[str]] = {"alice": [], "bob": []}

    def handler(who: str) -> Any:
        async def on_message(message: Any) -> None:
            notification = getattr(message, "root", message)
            if getattr(notification, "method", None) == "notifications/resources/updated":
                updates[who].append(notification.params.uri)

        return on_message

    def client(who: str) -> Client:
        token = features_live.tokens[("notes", who)]
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        url = f"{features_live.base_url}/t/{features_live.tenant.slug}/mcp/"
        url += features_live.config_ids["notes"]
        return Client(
            streamable_http_client(url, http_client=http),
            mode="legacy",
            message_handler=handler(who),
        )

    async with client("alice") as alice, client("bob") as bob:
        await alice.subscribe_resource("notes://7")
        # bob's call makes the upstream announce the change: only alice subscribed.
        assert (await bob.call_tool("touch", {"uri": "notes://7"})).structured_content == {
            "result": 1
        }
        assert await _wait_for(lambda: updates["alice"] == ["notes://7"])
        await alice.unsubscribe_resource("notes://7")
        assert ("resources/unsubscribe", "notes://7") in features_upstream.calls
        assert (await bob.call_tool("touch", {"uri": "notes://7"})).structured_content == {
            "result": 0
        }
        await asyncio.sleep(0.3)
    assert updates == {"alice": ["notes://7"], "bob": []}


# ---------------------------------------------------------------- revocation


@pytest.mark.parametrize("mode", MODES)
async def test_revoking_one_users_account_stops_only_that_user(
    features_live, features_upstream, django_db_blocker, mode
):
    from accounts.services.accounts import account_revoke
    from vault.models import ConnectedAccount

    async with (
        features_live.client("alice", mode) as alice,
        features_live.client("bob", mode) as bob,
    ):
        assert (await alice.read_resource("memo://mine")).contents

        def revoke() -> None:
            account = ConnectedAccount.objects.get(connection__name="remote", identifier="alice")
            account_revoke(account=account, actor="tests")

        await _in_tenant(features_live, django_db_blocker, revoke)
        reached = len(features_upstream.calls)
        with pytest.raises(MCPError) as refused:
            await alice.read_resource("memo://mine")
        with pytest.raises(MCPError):
            await alice.get_prompt("greet", {"person": "x"})
        assert len(features_upstream.calls) == reached
        assert (await bob.read_resource("notes://9")).contents[0].text == (
            f"note 9 for {upstream_key('bob')}"
        )
    assert refused.value.error.code == -32003
    assert refused.value.error.data == {"code": "no_active_account"}
    assert "alice" in refused.value.error.message


@pytest.mark.parametrize("mode", MODES)
async def test_removing_a_resource_from_the_mapping_applies_on_the_next_request(
    features_live, django_db_blocker, mode
):
    from configs.models import McpConfig
    from configs.services.mcp_configs import mcp_config_update

    async with features_live.client("alice", mode) as alice:
        assert (await alice.read_resource("notes://1")).contents
        await _in_tenant(
            features_live,
            django_db_blocker,
            lambda: mcp_config_update(
                config=McpConfig.objects.get(name="notes"),
                mappings=[
                    {"connection_name": "remote", "tools": ["echo"], "resources": ["memo://mine"]}
                ],
                actor="tests",
            ),
        )
        with pytest.raises(MCPError) as refused:
            await alice.read_resource("notes://1")
        with pytest.raises(MCPError):
            await alice.get_prompt("greet", {"person": "x"})
    assert refused.value.error.message == "Resource not found"


async def test_a_watch_ends_when_the_users_account_is_revoked(
    features_live, features_upstream, django_db_blocker
):
    # The suite's daphne re-checks watchers every second (settings/test.py).
    from accounts.services.accounts import account_revoke
    from vault.models import ConnectedAccount

    async with (
        features_live.client("alice", "legacy") as alice,
        features_live.client("bob", "legacy") as bob,
    ):
        await alice.subscribe_resource("notes://3")
        await bob.subscribe_resource("notes://3")

        def revoke() -> None:
            account = ConnectedAccount.objects.get(connection__name="remote", identifier="alice")
            account_revoke(account=account, actor="tests")

        await _in_tenant(features_live, django_db_blocker, revoke)
        # alice's watcher sees the revocation on its next check and unsubscribes upstream;
        # bob's keeps going.
        assert await _wait_for(
            lambda: features_upstream.calls.count(("resources/unsubscribe", "notes://3")) == 1
        )
        told = await bob.call_tool("touch", {"uri": "notes://3"})
    assert told.structured_content == {"result": 1}


async def test_a_listen_stream_relays_updates_of_its_resource_subscriptions(
    features_live, features_upstream
):
    """2026-07-28: ``subscriptions/listen`` with ``resourceSubscriptions`` (no subscribe)."""
    async with (
        features_live.client("alice", "auto") as alice,
        features_live.client("bob", "auto") as bob,
    ):
        async with alice.listen(resource_subscriptions=["notes://5", "memo://secret"]) as sub:
            # Only the exposed URI is honoured; the other does not exist here.
            assert sub.honored.resource_subscriptions == ["notes://5"]
            told = await bob.call_tool("touch", {"uri": "notes://5"})
            assert told.structured_content == {"result": 1}
            event = await asyncio.wait_for(sub.__anext__(), 10)
        assert event.uri == "notes://5"
        # The stream ended: its watcher unsubscribed upstream.
        assert await _wait_for(
            lambda: ("resources/unsubscribe", "notes://5") in features_upstream.calls
        )


@pytest.mark.parametrize("mode", MODES)
async def test_a_renamed_prompt_is_got_and_completed_by_its_new_name(
    features_live, django_db_blocker, mode
):
    from configs.models import McpConfig
    from configs.services.mcp_configs import mcp_config_update

    await _in_tenant(
        features_live,
        django_db_blocker,
        lambda: mcp_config_update(
            config=McpConfig.objects.get(name="notes"),
            mappings=[
                {
                    "connection_name": "remote",
                    "tools": ["echo"],
                    "prompts": ["greet"],
                    "prompt_overrides": {"greet": {"name": "hello"}},
                }
            ],
            actor="tests",
        ),
    )
    async with features_live.client("alice", mode) as alice:
        assert [p.name for p in (await alice.list_prompts()).prompts] == ["hello"]
        got = await alice.get_prompt("hello", {"person": "x"})
        done = await alice.complete(
            PromptReference(type="ref/prompt", name="hello"), {"name": "person", "value": "b"}
        )
        with pytest.raises(MCPError):
            await alice.get_prompt("greet", {"person": "x"})
    assert got.messages[0].content.text == f"{upstream_key('alice')} greets x"
    assert done.completion.values == ["bob"]


async def test_a_watch_ends_when_the_mapping_stops_exposing_the_resource(
    features_live, features_upstream, django_db_blocker
):
    from configs.models import McpConfig
    from configs.services.mcp_configs import mcp_config_update

    async with features_live.client("alice", "legacy") as alice:
        await alice.subscribe_resource("notes://8")
        await _in_tenant(
            features_live,
            django_db_blocker,
            lambda: mcp_config_update(
                config=McpConfig.objects.get(name="notes"),
                mappings=[{"connection_name": "remote", "tools": ["echo", "touch"]}],
                actor="tests",
            ),
        )
        # The watcher's next check (every second in the suite) finds the URI gone.
        assert await _wait_for(
            lambda: ("resources/unsubscribe", "notes://8") in features_upstream.calls
        )
