"""Prompts, resources, a resource template and completion for the upstream MCP test server.

Each one reports the credential it was called with (the ``Authorization`` header's bearer
value), so a test can prove whose credential reached the upstream; ``calls`` records what
arrived, so a test can prove that a refused request never did.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp_types import (
    Completion,
    CompletionArgument,
    EmptyResult,
    SubscribeRequestParams,
    TextContent,
    UnsubscribeRequestParams,
)

from tests.upstream.server import UpstreamServer, _free_port, build_server


def _caller(ctx: Context) -> str:
    headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
    return headers.get("authorization", "").removeprefix("Bearer ").strip() or "anonymous"


def add_features(server: MCPServer, calls: list[tuple[str, str]]) -> None:
    # The SDK injects no Context into a static resource: the template below reports the caller.
    @server.resource("memo://mine", name="mine", description="The team's memo.")
    def mine() -> str:
        calls.append(("resources/read", "memo://mine"))
        return "the team memo"

    @server.resource("memo://secret", name="secret", description="Not for every agent.")
    def secret() -> str:
        calls.append(("resources/read", "memo://secret"))
        return "the secret memo"

    @server.resource("notes://{note_id}", name="note", description="One note by id.")
    def note(note_id: str, ctx: Context) -> str:
        calls.append(("resources/read", f"notes://{note_id}"))
        return f"note {note_id} for {_caller(ctx)}"

    @server.resource("files://{name}", name="file", description="A file (never exposed).")
    def file(name: str) -> str:
        calls.append(("resources/read", f"files://{name}"))
        return f"file {name}"

    @server.prompt(name="greet", description="Greet someone as the caller.")
    def greet(person: str, ctx: Context) -> list[UserMessage]:
        calls.append(("prompts/get", "greet"))
        text = f"{_caller(ctx)} greets {person}"
        return [UserMessage(content=TextContent(type="text", text=text))]

    @server.prompt(name="admin_only", description="Not for every agent.")
    def admin_only() -> str:
        calls.append(("prompts/get", "admin_only"))
        return "admin prompt"

    @server.completion()
    async def complete(ref: Any, argument: CompletionArgument, context: Any) -> Completion:
        calls.append(("completion/complete", argument.name))
        values = [v for v in ("alice", "albert", "bob") if v.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)

    # uri -> {Mcp-Session-Id: the upstream session subscribed to it (a platform watcher)}
    subscribers: dict[str, dict[str, Any]] = {}

    def _session_id(ctx: Any) -> str:
        return ctx.request.headers.get("mcp-session-id", "") if ctx.request else ""

    async def on_subscribe(ctx: Any, params: Any) -> EmptyResult:
        calls.append(("resources/subscribe", str(params.uri)))
        subscribers.setdefault(str(params.uri), {})[_session_id(ctx)] = ctx.session
        return EmptyResult()

    async def on_unsubscribe(ctx: Any, params: Any) -> EmptyResult:
        calls.append(("resources/unsubscribe", str(params.uri)))
        subscribers.get(str(params.uri), {}).pop(_session_id(ctx), None)
        return EmptyResult()

    @server.tool(description="Announce that a resource changed to its subscribers.")
    async def touch(uri: str) -> int:
        told = 0
        for session in list(subscribers.get(uri, {}).values()):
            await session.send_resource_updated(uri)
            told += 1
        return told

    lowlevel = server._lowlevel_server  # noqa: SLF001 - MCPServer has no subscribe decorator
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, on_subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, on_unsubscribe)


class FeaturesUpstream(UpstreamServer):
    calls: list[tuple[str, str]]


@contextmanager
def run_features_upstream() -> Iterator[FeaturesUpstream]:
    calls: list[tuple[str, str]] = []
    server = build_server("upstream-features")
    add_features(server, calls)
    upstream = FeaturesUpstream(mcp=server, port=_free_port())
    upstream.calls = calls
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture
def features_upstream() -> Iterator[FeaturesUpstream]:
    with run_features_upstream() as upstream:
        yield upstream
