# ruff: noqa: F811 - pytest fixtures imported from their support modules
"""An upstream's requests to the client during a tool call (sampling, elicitation, roots) reach
the agent's client and its answers go back: over the call's SSE stream on 2025-11-25, as a
sealed ``input_required`` round on 2026-07-28. Real daphne, the official ``mcp`` client, and the
conformance upstream (``conformance/relay_tools.py``) on loopback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from django_tenants.utils import tenant_context
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError

from conformance.upstream_server import build_server
from tests.conftest import free_port
from tests.gateway.test_mcp_relay import fixture_upstream  # noqa: F401
from tests.gateway.test_mcp_support import CLIENT_INFO, LEGACY, modern_meta, modern_post
from tests.upstream.server import UpstreamServer

MODES = ["auto", "legacy"]
ALL_CAPABILITIES = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}


@dataclass
class Live:
    url: str
    tokens: dict[str, str]  # identifier -> session token

    def client(self, who: str, mode: str, **options: Any) -> Client:
        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )
        return Client(streamable_http_client(self.url, http_client=http), mode=mode, **options)


@pytest.fixture
def live(live_tenant, live_server_url, django_db_blocker, fixture_upstream) -> Live:
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    with django_db_blocker.unblock(), tenant_context(live_tenant):
        upstream = connection_create(
            name="fixture",
            connector="mcp",
            auth_type="none",
            settings={"server_url": fixture_upstream.url},
            secrets=None,
            actor="tests",
        )
        assert connection_sync_tools(connection=upstream, actor="tests")
        config = mcp_config_create(
            name="fixture", mappings=[{"connection_name": "fixture", "tools": ["*"]}], actor="tests"
        )
        tokens = {
            who: session_token_mint(
                config=config, identifier=who, expiry_seconds=3600, actor="tests"
            ).secret
            for who in ("alice", "bob")
        }
    return Live(url=f"{live_server_url}/t/{live_tenant.slug}/mcp/{config.pk}", tokens=tokens)


def _sampling(answer: str) -> Any:
    async def sampling(context, params):  # noqa: ANN001, ANN202
        asked = params.messages[0].content.text
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"{answer} (asked: {asked})"),
            model="test-model",
            stop_reason="endTurn",
        )

    return sampling


def _elicitation(content: dict[str, Any], seen: list[Any] | None = None) -> Any:
    async def elicitation(context, params):  # noqa: ANN001, ANN202
        if seen is not None:
            seen.append(params)
        return types.ElicitResult(action="accept", content=content)

    return elicitation


async def _roots(context):  # noqa: ANN001, ANN202
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project", name="project")])


# ---------------------------------------------------------------- both wires, official client


@pytest.mark.parametrize("mode", MODES)
async def test_sampling_elicitation_and_roots_reach_the_agents_client(live, mode):
    seen: list[Any] = []
    options = {
        "sampling_callback": _sampling("Paris"),
        "elicitation_callback": _elicitation(
            {"username": "alice", "email": "alice@example.test", "name": "Alice"}, seen
        ),
        "list_roots_callback": _roots,
    }
    async with live.client("alice", mode, **options) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else LEGACY)
        sampled = await client.call_tool("test_sampling", {"prompt": "capital of France?"})
        elicited = await client.call_tool("test_elicitation", {"message": "Who are you?"})
        roots = await client.call_tool("test_list_roots", {})
        url = await client.call_tool("test_url_elicitation", {"url": "https://example.test/ok"})
        several = await client.call_tool("test_input_required_result_multiple_inputs", {})
    assert sampled.content[0].text == "LLM response: Paris (asked: capital of France?)"
    assert elicited.content[0].text == (
        'User response: action=accept, content={"username": "alice", '
        '"email": "alice@example.test", "name": "Alice"}'
    )
    assert roots.content[0].text == 'Roots: ["file:///work/project"]'
    assert url.content[0].text == "URL elicitation: action=accept"
    assert several.content[0].text == "Got all three: Alice, Paris (asked: Generate a greeting)"
    # The form went through unchanged, and the URL-mode request kept its mode and URL.
    assert seen[0].message == "Who are you?"
    assert seen[0].requested_schema["required"] == ["username", "email"]
    assert seen[1].mode == "url" and seen[1].url == "https://example.test/ok"


async def test_a_multi_round_call_resolves_through_the_gateway(live):
    answers = iter([{"name": "Alice"}, {"color": "blue"}])

    async def elicitation(context, params):  # noqa: ANN001, ANN202
        return types.ElicitResult(action="accept", content=next(answers))

    async with live.client("alice", "auto", elicitation_callback=elicitation) as client:
        result = await client.call_tool("test_input_required_result_multi_round", {})
    assert result.content[0].text == "Done: blue"


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_the_capability_gets_the_upstreams_error_promptly(live, mode):
    started = time.monotonic()
    # Elicitation declared, sampling not: the upstream sees exactly that, and says so.
    async with live.client("alice", mode, elicitation_callback=_elicitation({})) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("test_sampling", {"prompt": "anything"})
    assert time.monotonic() - started < 10
    assert refused.value.error.code == -32021
    assert refused.value.error.message == "This tool requires the client's sampling capability"
    assert refused.value.error.data == {"requiredCapabilities": {"sampling": {}}}


async def test_progress_and_logs_still_flow_during_a_relayed_session(live):
    progress: list[float] = []
    logs: list[str] = []

    async def on_progress(value, total, message):  # noqa: ANN001, ANN202
        progress.append(value)

    async def on_log(params):  # noqa: ANN001, ANN202
        logs.append(params.data)

    options = {"sampling_callback": _sampling("x"), "logging_callback": on_log}
    async with live.client("alice", "legacy", **options) as client:
        await client.set_logging_level("info")
        done = await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        logged = await client.call_tool("test_tool_with_logging", {})
        sampled = await client.call_tool("test_sampling", {"prompt": "still there?"})
    assert done.content[0].text == "Progress tool completed"
    assert progress == [0, 50, 100]
    assert logged.content[0].text == "Tool with logging executed successfully"
    assert len(logs) == 3
    assert sampled.content[0].text == "LLM response: x (asked: still there?)"


# ---------------------------------------------------------------- never across users


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("users", [("alice", "bob"), ("alice", "alice")])
async def test_concurrent_relays_never_cross(live, mode, users):
    # Two users, and two calls of one user (which share that user's pooled upstream session
    # once the upstream's era is known): each answer reaches only the call that asked.
    both_asked = asyncio.Event()
    asked: list[str] = []
    labels = [f"{who}-{index}" for index, who in enumerate(users)]

    def elicitation_for(label: str) -> Any:
        async def elicitation(context, params):  # noqa: ANN001, ANN202
            assert params.message == f"for {label}"
            asked.append(label)
            if len(asked) == 2:
                both_asked.set()
            # Both calls are pending upstream at the same time before either answers.
            await asyncio.wait_for(both_asked.wait(), 20)
            return types.ElicitResult(
                action="accept", content={"username": label, "email": f"{label}@example.test"}
            )

        return elicitation

    async def call(who: str, label: str) -> str:
        async with live.client(who, mode, elicitation_callback=elicitation_for(label)) as client:
            await client.call_tool("test_simple_text", {})  # the era is known after this
            result = await client.call_tool("test_elicitation", {"message": f"for {label}"})
        return result.content[0].text

    first, second = await asyncio.gather(
        *(call(w, lb) for w, lb in zip(users, labels, strict=True))
    )
    assert sorted(asked) == sorted(labels)
    assert f'"username": "{labels[0]}"' in first and labels[1] not in first
    assert f'"username": "{labels[1]}"' in second and labels[0] not in second


def _legacy_headers(token: str, session_id: str | None = None) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": LEGACY,
    }
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return headers


def _legacy_session(live: Live, who: str, capabilities: dict[str, Any]) -> str:
    response = httpx.post(
        live.url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": LEGACY,
                "capabilities": capabilities,
                "clientInfo": CLIENT_INFO,
            },
        },
        headers=_legacy_headers(live.tokens[who]),
        timeout=30,
    )
    assert response.status_code == 200
    session_id = response.headers["mcp-session-id"]
    httpx.post(
        live.url,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers=_legacy_headers(live.tokens[who], session_id),
        timeout=30,
    )
    return session_id


def _answer(
    live: Live, who: str, session_id: str, request_id: str, content: dict, url: str = ""
) -> int:
    response = httpx.post(
        url or live.url,
        json={
            "jsonrpc": "2.0",
            "id": request_id,
            "result": {"action": "accept", "content": content},
        },
        headers=_legacy_headers(live.tokens[who], session_id),
        timeout=30,
    )
    return response.status_code


def test_an_answer_on_another_users_session_is_never_delivered(live):
    alice_session = _legacy_session(live, "alice", {"elicitation": {}})
    bob_session = _legacy_session(live, "bob", {"elicitation": {}})
    events: list[dict[str, Any]] = []
    asked = threading.Event()

    def alice_call() -> None:
        body = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "test_elicitation", "arguments": {"message": "alice only"}},
        }
        headers = _legacy_headers(live.tokens["alice"], alice_session)
        with httpx.stream("POST", live.url, json=body, headers=headers, timeout=30) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if events[-1].get("method") == "elicitation/create":
                        asked.set()
                    if events[-1].get("id") == 7:
                        return

    worker = threading.Thread(target=alice_call)
    worker.start()
    assert asked.wait(20)
    request = events[-1]
    assert request["params"]["message"] == "alice only"
    forged = {"username": "mallory", "email": "m@example.test"}
    # Bob answers Alice's pending request on his own session: accepted, and dropped.
    assert _answer(live, "bob", bob_session, request["id"], forged) == 202
    # Bob cannot use Alice's session either (the session is bound to its end user).
    assert _answer(live, "bob", alice_session, request["id"], forged) == 404
    time.sleep(0.5)
    assert not any(event.get("id") == 7 for event in events)
    own = {"username": "alice", "email": "alice@example.test"}
    assert _answer(live, "alice", alice_session, request["id"], own) == 202
    worker.join(20)
    final = events[-1]
    assert final["id"] == 7
    text = final["result"]["content"][0]["text"]
    assert '"username": "alice"' in text and "mallory" not in text
    # Answered once: a replay of the same id finds nothing pending.
    assert _answer(live, "alice", alice_session, request["id"], forged) == 202


def test_the_answer_may_reach_another_web_process(live, live_server_url, django_db_blocker):
    from tests.conftest import run_daphne

    session_id = _legacy_session(live, "alice", {"roots": {}})
    events: list[dict[str, Any]] = []
    asked = threading.Event()

    def call() -> None:
        body = {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/call",
            "params": {"name": "test_list_roots", "arguments": {}},
        }
        headers = _legacy_headers(live.tokens["alice"], session_id)
        with httpx.stream("POST", live.url, json=body, headers=headers, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if events[-1].get("method") == "roots/list":
                        asked.set()
                    if events[-1].get("id") == 9:
                        return

    with django_db_blocker.unblock(), run_daphne() as second:
        other_url = live.url.replace(live_server_url, second)
        worker = threading.Thread(target=call)
        worker.start()
        assert asked.wait(30)
        answer = httpx.post(
            other_url,
            json={
                "jsonrpc": "2.0",
                "id": events[-1]["id"],
                "result": {"roots": [{"uri": "file:///elsewhere", "name": "other"}]},
            },
            headers=_legacy_headers(live.tokens["alice"], session_id),
            timeout=30,
        )
        assert answer.status_code == 202
        worker.join(30)
    assert events[-1]["id"] == 9
    assert events[-1]["result"]["content"][0]["text"] == 'Roots: ["file:///elsewhere"]'


def test_a_call_that_asks_nothing_is_still_answered_as_json(live):
    session_id = _legacy_session(live, "alice", {"sampling": {}})
    response = httpx.post(
        live.url,
        json={
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "test_simple_text", "arguments": {}},
        },
        headers=_legacy_headers(live.tokens["alice"], session_id),
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["result"]["content"][0]["text"].startswith("This is a simple")


# ---------------------------------------------------------------- 2026-07-28 requestState


def _mrtr(live: Live, who: str, extra: dict[str, Any], request_id: int = 1) -> httpx.Response:
    params = {
        "name": "test_input_required_result_tampered_state",
        "arguments": {},
        "_meta": modern_meta(ALL_CAPABILITIES),
        **extra,
    }
    return modern_post(live.url, live.tokens[who], "tools/call", params, request_id=request_id)


def test_request_state_is_sealed_to_the_caller_and_tampering_is_refused(live):
    first = _mrtr(live, "alice", {}).json()["result"]
    assert first["resultType"] == "input_required"
    assert list(first["inputRequests"]) == ["confirm"]
    state = first["requestState"]
    assert state.startswith("vmcp1.")
    answers = {"confirm": {"action": "accept", "content": {"ok": True}}}

    tampered = _mrtr(live, "alice", {"inputResponses": answers, "requestState": state + "x"})
    assert tampered.status_code == 400
    assert tampered.json()["error"] == {
        "code": -32602,
        "message": "Invalid params: requestState failed verification",
    }
    flipped = state[:-3] + ("A" if state[-3] != "A" else "B") + state[-2:]
    assert (
        _mrtr(live, "alice", {"inputResponses": answers, "requestState": flipped}).status_code
        == 400
    )
    # Bob replaying Alice's state: refused the same way, nothing runs.
    replayed = _mrtr(live, "bob", {"inputResponses": answers, "requestState": state})
    assert replayed.json()["error"]["code"] == -32602
    # The same state, for another tool: refused.
    other = modern_post(
        live.url,
        live.tokens["alice"],
        "tools/call",
        {
            "name": "test_input_required_result_request_state",
            "arguments": {},
            "_meta": modern_meta(ALL_CAPABILITIES),
            "inputResponses": answers,
            "requestState": state,
        },
    )
    assert other.json()["error"]["code"] == -32602

    done = _mrtr(live, "alice", {"inputResponses": answers, "requestState": state}).json()
    assert done["result"]["resultType"] == "complete"
    assert done["result"]["content"][0]["text"] == "state verified"


def test_the_upstreams_state_round_trips_inside_the_sealed_one(live):
    params = {
        "name": "test_input_required_result_request_state",
        "arguments": {},
        "_meta": modern_meta(ALL_CAPABILITIES),
    }
    first = modern_post(live.url, live.tokens["alice"], "tools/call", params).json()["result"]
    # Only vmcp's sealed token leaves: the upstream's own state is inside it.
    assert first["requestState"].startswith("vmcp1.")
    retry = {
        **params,
        "inputResponses": {"confirm": {"action": "accept", "content": {"ok": True}}},
        "requestState": first["requestState"],
    }
    done = modern_post(live.url, live.tokens["alice"], "tools/call", retry).json()["result"]
    assert "state-ok" in done["content"][0]["text"]


def test_only_the_declared_capabilities_reach_the_upstream(live):
    params = {
        "name": "test_input_required_result_capabilities",
        "arguments": {},
        "_meta": modern_meta({"sampling": {}}),
    }
    result = modern_post(live.url, live.tokens["alice"], "tools/call", params).json()["result"]
    assert result["resultType"] == "input_required"
    assert [request["method"] for request in result["inputRequests"].values()] == [
        "sampling/createMessage"
    ]


def test_malformed_input_responses_are_a_clear_error(live):
    params = {
        "name": "test_input_required_result_elicitation",
        "arguments": {},
        "_meta": modern_meta(ALL_CAPABILITIES),
        "inputResponses": {"user_name": {"action": "shrug"}},
    }
    response = modern_post(live.url, live.tokens["alice"], "tools/call", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602


# ---------------------------------------------------------------- a handshake-era upstream


class _HandshakeOnly:
    """ASGI wrapper: the upstream refuses the 2026-07-28 wire, so vmcp speaks 2025-11-25 to it
    and the upstream sends its requests to vmcp mid-call on the call's SSE stream."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.versions: list[str] = []  # the MCP-Protocol-Version of every request answered

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            version = dict(scope["headers"]).get(b"mcp-protocol-version", b"").decode()
            if version == "2026-07-28":
                await send({"type": "http.response.start", "status": 400, "headers": []})
                await send({"type": "http.response.body", "body": b"handshake era only"})
                return
            self.versions.append(version)
        await self.app(scope, receive, send)


class HandshakeUpstream(UpstreamServer):
    def start(self) -> None:
        import uvicorn

        app = self.wrapper = _HandshakeOnly(self.mcp.streamable_http_app(json_response=False))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)


@pytest.fixture
def handshake_live(live_tenant, live_server_url, django_db_blocker) -> Iterator[Live]:
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    upstream = HandshakeUpstream(mcp=build_server(), port=free_port())
    upstream.start()
    try:
        with django_db_blocker.unblock(), tenant_context(live_tenant):
            connection = connection_create(
                name="old",
                connector="mcp",
                auth_type="none",
                settings={"server_url": upstream.url},
                secrets=None,
                actor="tests",
            )
            assert connection_sync_tools(connection=connection, actor="tests")
            config = mcp_config_create(
                name="old", mappings=[{"connection_name": "old", "tools": ["*"]}], actor="tests"
            )
            token = session_token_mint(
                config=config, identifier="alice", expiry_seconds=3600, actor="tests"
            ).secret
        live = Live(
            url=f"{live_server_url}/t/{live_tenant.slug}/mcp/{config.pk}", tokens={"alice": token}
        )
        yield live
        # vmcp spoke the handshake era to it throughout (the era probe was refused).
        assert upstream.wrapper.versions
        assert set(upstream.wrapper.versions) <= {"", LEGACY}
    finally:
        upstream.stop()


async def test_a_handshake_era_upstreams_mid_call_requests_reach_a_legacy_client(handshake_live):
    options = {
        "sampling_callback": _sampling("Rome"),
        "elicitation_callback": _elicitation({"username": "alice", "email": "a@example.test"}),
        "list_roots_callback": _roots,
    }
    async with handshake_live.client("alice", "legacy", **options) as client:
        sampled = await client.call_tool("test_sampling", {"prompt": "capital of Italy?"})
        elicited = await client.call_tool("test_elicitation", {"message": "Who?"})
        roots = await client.call_tool("test_list_roots", {})
    assert sampled.content[0].text == "LLM response: Rome (asked: capital of Italy?)"
    assert '"username": "alice"' in elicited.content[0].text
    assert roots.content[0].text == 'Roots: ["file:///work/project"]'


async def test_a_handshake_era_upstream_asking_a_modern_client_fails_promptly(handshake_live):
    # Nothing to ask on mid-call on the stateless wire: the upstream gets an error at once and
    # the agent gets the upstream's answer to that, never a hang.
    started = time.monotonic()
    async with handshake_live.client("alice", "auto", sampling_callback=_sampling("x")) as client:
        assert client.protocol_version == "2026-07-28"
        result = await client.call_tool("test_sampling", {"prompt": "anything"})
    assert result.is_error is True
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- a round on prompts/get

ROUND_PROMPT = "test_input_required_result_prompt"
CONTEXT_ANSWER = {"user_context": {"action": "accept", "content": {"context": "the Q3 report"}}}


@pytest.fixture
def prompt_live(live_tenant, live_server_url, django_db_blocker, fixture_upstream) -> Live:
    """The fixture upstream's tools and only its input_required prompt (not the others)."""
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    with django_db_blocker.unblock(), tenant_context(live_tenant):
        upstream = connection_create(
            name="fixture",
            connector="mcp",
            auth_type="none",
            settings={"server_url": fixture_upstream.url},
            secrets=None,
            actor="tests",
        )
        assert connection_sync_tools(connection=upstream, actor="tests")
        config = mcp_config_create(
            name="prompted",
            mappings=[{"connection_name": "fixture", "tools": ["*"], "prompts": [ROUND_PROMPT]}],
            actor="tests",
        )
        tokens = {
            who: session_token_mint(
                config=config, identifier=who, expiry_seconds=3600, actor="tests"
            ).secret
            for who in ("alice", "bob")
        }
    return Live(url=f"{live_server_url}/t/{live_tenant.slug}/mcp/{config.pk}", tokens=tokens)


def _prompt(live: Live, who: str, extra: dict[str, Any], name: str = ROUND_PROMPT) -> Any:
    params = {"name": name, "_meta": modern_meta(ALL_CAPABILITIES), **extra}
    return modern_post(
        live.url, live.tokens[who], "prompts/get", params, headers={"Mcp-Name": name}
    )


def _prompt_audit(live_tenant: Any, django_db_blocker: Any) -> list[tuple[str, ...]]:
    from audit.models import AuditEvent

    with django_db_blocker.unblock(), tenant_context(live_tenant):
        return list(
            AuditEvent.objects.filter(
                event_type__in=["tool.called", "tool.denied"], tool_name__startswith="prompts/get"
            )
            .order_by("id")
            .values_list("event_type", "identifier", "tool_name", "outcome", "error_code")
        )


async def test_an_input_required_prompt_resolves_through_the_gateway(prompt_live):
    seen: list[Any] = []
    elicitation = _elicitation({"context": "the Q3 report"}, seen)
    async with prompt_live.client("alice", "auto", elicitation_callback=elicitation) as client:
        assert client.protocol_version == "2026-07-28"
        prompt = await client.get_prompt(ROUND_PROMPT)
    # The upstream asked (the form unchanged), got its answer and its own state back.
    assert [params.message for params in seen] == ["What context should the prompt use?"]
    assert seen[0].requested_schema["required"] == ["context"]
    assert prompt.messages[0].content.text == "Prompt with user context: the Q3 report"


def test_a_prompt_round_is_sealed_to_the_caller_method_and_prompt(
    prompt_live, live_tenant, django_db_blocker
):
    first = _prompt(prompt_live, "alice", {}).json()["result"]
    assert first["resultType"] == "input_required"
    assert first["inputRequests"]["user_context"]["method"] == "elicitation/create"
    state = first["requestState"]
    # vmcp's sealed token only: the upstream's own state is inside it, unreadable.
    assert state.startswith("vmcp1.") and "prompt-round-1" not in state
    refused = {"code": -32602, "message": "Invalid params: requestState failed verification"}

    tampered = _prompt(
        prompt_live, "alice", {"inputResponses": CONTEXT_ANSWER, "requestState": state + "x"}
    )
    assert tampered.status_code == 400
    assert tampered.json()["error"] == refused
    # Bob replaying Alice's state: refused the same way.
    replayed = _prompt(
        prompt_live, "bob", {"inputResponses": CONTEXT_ANSWER, "requestState": state}
    )
    assert replayed.json()["error"] == refused
    # A state sealed for a tools/call round does not open a prompts/get round …
    tool_round = _mrtr(prompt_live, "alice", {}).json()["result"]
    assert tool_round["resultType"] == "input_required"
    crossed = _prompt(
        prompt_live,
        "alice",
        {"inputResponses": CONTEXT_ANSWER, "requestState": tool_round["requestState"]},
    )
    assert crossed.json()["error"] == refused
    # … nor the prompt's state a tools/call round.
    confirm = {"confirm": {"action": "accept", "content": {"ok": True}}}
    backwards = _mrtr(prompt_live, "alice", {"inputResponses": confirm, "requestState": state})
    assert backwards.json()["error"] == refused

    done = _prompt(prompt_live, "alice", {"inputResponses": CONTEXT_ANSWER, "requestState": state})
    assert done.status_code == 200
    result = done.json()["result"]
    assert result["resultType"] == "complete"
    assert result["messages"][0]["content"]["text"] == "Prompt with user context: the Q3 report"
    # Audited like any prompts/get: the two rounds that reached the upstream, nothing else
    # (a refused state never runs).
    label = f"prompts/get {ROUND_PROMPT}"
    assert _prompt_audit(live_tenant, django_db_blocker) == [
        ("tool.called", "alice", label, "ok", ""),
        ("tool.called", "alice", label, "ok", ""),
    ]


def test_a_prompt_the_mapping_does_not_allow_is_refused_before_any_state_is_read(
    prompt_live, live_tenant, django_db_blocker
):
    # test_simple_prompt exists upstream but is not mapped: unknown, whatever state comes with it.
    refused = _prompt(
        prompt_live,
        "alice",
        {"inputResponses": CONTEXT_ANSWER, "requestState": "vmcp1.forged"},
        name="test_simple_prompt",
    )
    assert refused.json()["error"] == {
        "code": -32602,
        "message": "Unknown prompt: test_simple_prompt",
    }
    assert _prompt_audit(live_tenant, django_db_blocker) == [
        ("tool.denied", "alice", "prompts/get test_simple_prompt", "denied", "unknown_prompt")
    ]


def test_a_prompt_retry_with_malformed_input_responses_is_a_clear_error(prompt_live):
    response = _prompt(prompt_live, "alice", {"inputResponses": {"user_context": "yes"}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602
    assert "inputResponses" in response.json()["error"]["message"]


async def test_an_input_required_prompt_on_the_handshake_wire_fails_promptly(prompt_live):
    # 2025-11-25 has no stream to ask on during prompts/get: the upstream is told the client
    # cannot answer, and the agent gets its error at once, never a hang.
    started = time.monotonic()
    elicitation = _elicitation({"context": "x"})
    async with prompt_live.client("alice", "legacy", elicitation_callback=elicitation) as client:
        with pytest.raises(MCPError) as refused:
            await client.get_prompt(ROUND_PROMPT)
    assert time.monotonic() - started < 10
    assert refused.value.error.code == -32021
    assert refused.value.error.data == {"requiredCapabilities": {"elicitation": {}}}


# ---------------------------------------------------------------- the pooled session's own task


async def test_a_pooled_sessions_own_requests_never_reach_the_relay_of_the_call_that_opened_it():
    # What a handshake-era upstream asks on the session's GET stream (tied to no request) arrives
    # on the session's own tasks, outside any call's context. The owner task used to copy the
    # context of the call that opened the session, so such a request was answered by that
    # call's agent, whoever's call it came during.
    from connectors import mcp_pool
    from connectors.mcp_common import eras
    from connectors.mcp_relay import Relay, current, routed_options
    from vmcp_platform.errors import ProviderError

    asked: dict[str, list[str]] = {"opener": [], "later": []}

    def relay(who: str) -> Relay:
        async def ask(method: str, payload: dict[str, Any]) -> dict[str, Any]:
            asked[who].append(method)
            return {"roots": [{"uri": f"file:///{who}", "name": who}]}

        return Relay(capabilities=frozenset({"roots"}), ask=ask)

    server = build_server()

    @server.tool(description="Asks for the roots on the session, not as part of this call.")
    async def session_roots(ctx: Context) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # roots are deprecated on 2026-07-28, not here
            roots = await ctx.session.list_roots()
        return json.dumps([str(root.uri) for root in roots.roots])

    upstream = HandshakeUpstream(mcp=server, port=free_port())
    upstream.start()
    eras.pop(upstream.url, None)
    options = {"mode": "legacy", **routed_options(frozenset({"roots"}))}
    session = {"scope": "t:c:u", "server_url": upstream.url, "headers": {}, "timeout": 10}
    owners: list[asyncio.Task[None]] = []
    try:
        with current(relay("opener")):
            opened = await mcp_pool.call(
                **session, name="test_simple_text", arguments={}, progress_callback=None,
                client_options=options,
            )  # fmt: skip
        assert not opened.is_error
        owners = [pooled.task for pooled in mcp_pool._pool().values() if pooled.task]
        # Nobody's call asked it: no agent is asked (before, the opener's agent answered).
        refused = pytest.raises(ProviderError, match="roots/list is not expected here")
        with current(relay("later")), refused:
            await mcp_pool.call(
                **session, name="session_roots", arguments={}, progress_callback=None,
                client_options=options,
            )  # fmt: skip
        assert asked == {"opener": [], "later": []}
    finally:
        mcp_pool.forget()
        if owners:
            await asyncio.wait(owners, timeout=5)  # the sessions close before their server stops
        upstream.stop()
