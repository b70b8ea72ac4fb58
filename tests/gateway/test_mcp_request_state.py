"""The sealed ``requestState`` (``gateway.mcp.request_state``): opens only for its binding."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import pytest

from gateway.mcp import request_state
from gateway.mcp.jsonrpc import JsonRpcError


@dataclass(frozen=True)
class FakePrincipal:
    tenant: SimpleNamespace
    config_id: str
    token_id: str
    identifier: str


ALICE = FakePrincipal(SimpleNamespace(schema_name="t_a"), "cfg-1", "tok-1", "alice")


def _refused(principal: FakePrincipal, token: str, name: str = "tool") -> bool:
    with pytest.raises(JsonRpcError) as refused:
        request_state.unseal(principal, "tools/call", name, token)
    assert refused.value.code == -32602
    assert refused.value.message == "Invalid params: requestState failed verification"
    return True


def test_round_trip_keeps_the_upstreams_state_and_hides_it():
    token = request_state.seal(ALICE, "tools/call", "tool", "upstream-secret-state")
    assert token.startswith("vmcp1.") and "upstream-secret-state" not in token
    assert request_state.unseal(ALICE, "tools/call", "tool", token) == "upstream-secret-state"
    empty = request_state.seal(ALICE, "tools/call", "tool", None)
    assert request_state.unseal(ALICE, "tools/call", "tool", empty) is None


@pytest.mark.parametrize(
    "other",
    [
        replace(ALICE, identifier="bob"),
        replace(ALICE, token_id="tok-2"),
        replace(ALICE, config_id="cfg-2"),
        replace(ALICE, tenant=SimpleNamespace(schema_name="t_b")),
    ],
)
def test_another_binding_cannot_open_it(other):
    token = request_state.seal(ALICE, "tools/call", "tool", "s")
    assert _refused(other, token)


def test_another_tool_cannot_open_it():
    assert _refused(ALICE, request_state.seal(ALICE, "tools/call", "tool", "s"), name="other")


def test_another_method_cannot_open_it_even_for_the_same_name():
    # A prompt may share a tool's name: a prompts/get round's state never resumes a tools/call.
    prompt_state = request_state.seal(ALICE, "prompts/get", "tool", "s")
    assert _refused(ALICE, prompt_state)
    assert request_state.unseal(ALICE, "prompts/get", "tool", prompt_state) == "s"


@pytest.mark.parametrize(
    "token", ["", "garbage", "vmcp1.", "vmcp1.!!!!", "vmcp1.AAAA", "x" * 70_000, None, 42]
)
def test_garbage_is_refused(token):
    assert _refused(ALICE, token)


def test_every_altered_character_is_refused():
    token = request_state.seal(ALICE, "tools/call", "tool", "s")
    for index in range(len("vmcp1."), len(token), 7):
        flipped = "A" if token[index] != "A" else "B"
        altered = token[:index] + flipped + token[index + 1 :]
        assert _refused(ALICE, altered)


def test_an_expired_state_is_refused(monkeypatch):
    token = request_state.seal(ALICE, "tools/call", "tool", "s")
    later = request_state.time.time() + request_state.TTL_SECONDS + 1
    monkeypatch.setattr(request_state.time, "time", lambda: later)
    assert _refused(ALICE, token)
