"""The plain JSON-RPC client of upstream MCP servers (``connectors.mcp_rpc``) and its use for
``tools/call`` (``connectors.mcp_direct``, ``mcp_upstream.call_tool``).

Against real servers on loopback: the upstream test server (the ``mcp`` SDK under uvicorn) in
its SSE mode and in its JSON mode, and, for what no SDK server sends on purpose (bare HTTP
errors, odd SSE framing), a raw asyncio HTTP server that writes exactly the given bytes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from connectors import mcp_direct, mcp_rpc, mcp_upstream
from connectors.mcp_common import eras
from tests.upstream.server import UpstreamServer, _free_port, build_server
from vmcp_platform.errors import ProviderError

ECHO = {"name": "echo", "arguments": {"text": "hello"}}


class _JsonUpstream(UpstreamServer):
    """The same SDK server, answering with JSON bodies and without sessions."""

    def start(self) -> None:
        app = self.mcp.streamable_http_app(json_response=True, stateless_http=True)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            assert self._thread.is_alive()
            threading.Event().wait(0.02)


def _with_routed_tool(server: MCPServer) -> MCPServer:
    """Adds ``routed``: ``region`` and ``count`` are mirrored into ``Mcp-Param-*`` headers (the
    SDK server refuses a call whose headers disagree with, or lack, those arguments)."""

    def routed(
        ctx: Context,
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
        count: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Count"})] = 0,
        note: str = "",
    ) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
        return {k: v for k, v in headers.items() if k.startswith("mcp-param-")}

    server.add_tool(routed, name="routed", description="Report the Mcp-Param headers.")
    return server


@pytest.fixture(scope="module")
def sse_upstream() -> Iterator[UpstreamServer]:
    upstream = UpstreamServer(mcp=_with_routed_tool(build_server()), port=_free_port())
    upstream.start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def json_upstream() -> Iterator[UpstreamServer]:
    upstream = _JsonUpstream(mcp=_with_routed_tool(build_server()), port=_free_port())
    upstream.start()
    yield upstream
    upstream.stop()


@pytest.fixture(autouse=True)
async def _fresh() -> AsyncIterator[None]:
    mcp_upstream.forget_servers()
    yield
    mcp_upstream.forget_servers()  # in the test's loop: raw servers see their connections end
    await asyncio.sleep(0.01)


@pytest.fixture(params=["sse", "json"])
def upstream(request: Any, sse_upstream: UpstreamServer, json_upstream: UpstreamServer):
    return sse_upstream if request.param == "sse" else json_upstream


# ------------------------------------------------------------------ a raw server


class RawServer:
    """Answers every request with ``chunks`` (raw bytes, written one by one) and records it."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self.requests.append(head + await reader.readexactly(length))
        for chunk in self.chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.01)  # separate reads on the client side
        writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    async with RawServer() as server:
        yield server


def _http(status: int, content_type: str, body: bytes, *, reason: str = "OK") -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


# ------------------------------------------------------------------ against the SDK server


async def test_a_call_returns_the_result_unchanged(upstream: UpstreamServer) -> None:
    result = await mcp_rpc.call(upstream.url, "tools/call", ECHO, {}, timeout=10)
    assert result["content"] == [{"type": "text", "text": "hello"}]
    assert result["structuredContent"] == {"result": "hello"}
    assert result["isError"] is False


async def test_tool_errors_and_non_text_blocks_pass_through(upstream: UpstreamServer) -> None:
    failed = await mcp_rpc.call(
        upstream.url, "tools/call", {"name": "fail", "arguments": {}}, {}, timeout=10
    )
    assert failed["isError"] is True and "nope" in failed["content"][0]["text"]
    image = await mcp_rpc.call(
        upstream.url, "tools/call", {"name": "tiny_image", "arguments": {}}, {}, timeout=10
    )
    assert image["content"][0]["type"] == "image"
    assert image["content"][0]["mimeType"] == "image/png"


async def test_the_credential_header_reaches_the_upstream(upstream: UpstreamServer) -> None:
    result = await mcp_rpc.call(
        upstream.url,
        "tools/call",
        {"name": "whoami", "arguments": {}},
        {"Authorization": "Bearer user-key-1"},
        timeout=10,
    )
    assert result["structuredContent"]["user"] == "user-key-1"


async def test_a_jsonrpc_error_keeps_its_code(upstream: UpstreamServer) -> None:
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(upstream.url, "no/such/method", {}, {}, timeout=10)
    assert refused.value.details["jsonrpc_code"] == -32601
    assert "returned an error" in refused.value.message


async def test_a_slow_upstream_times_out(upstream: UpstreamServer) -> None:
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(
            upstream.url, "tools/call", {"name": "sleep", "arguments": {"seconds": 3}}, {},
            timeout=0.3,
        )  # fmt: skip
    assert "did not answer within 0.3s" in refused.value.message


async def test_an_oversized_answer_is_cut_off(upstream: UpstreamServer, settings: Any) -> None:
    settings.VMCP_UPSTREAM_MAX_RESPONSE_BYTES = 10_000
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(
            upstream.url, "tools/call", {"name": "big", "arguments": {"size": 50_000}}, {},
            timeout=10,
        )  # fmt: skip
    assert refused.value.message == "the upstream MCP server's response exceeded 10000 bytes"


async def test_the_guard_refuses_a_private_address(upstream: UpstreamServer, settings: Any) -> None:
    settings.VMCP_SSRF_ALLOWED_HOSTS = []  # loopback is allowed in tests only by this list
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(upstream.url, "tools/call", ECHO, {}, timeout=10)
    assert "could not reach the upstream MCP server" in refused.value.message
    assert "non-public address; refusing to connect" in refused.value.message


async def test_progress_notifications_before_the_answer_are_relayed(
    sse_upstream: UpstreamServer,
) -> None:
    seen: list[dict[str, Any]] = []

    async def note(message: dict[str, Any]) -> None:
        seen.append(message)

    params = {"name": "slow_progress", "arguments": {"steps": 3}, "_meta": {"progressToken": 7}}
    result = await mcp_rpc.call(
        sse_upstream.url, "tools/call", params, {}, timeout=10, on_notification=note
    )
    assert result["content"][0]["text"] == "done"
    progress = [m["params"] for m in seen if m["method"] == "notifications/progress"]
    assert [p["progress"] for p in progress] == [1, 2, 3]
    assert all(p["progressToken"] == 7 for p in progress)


# ------------------------------------------------------------------ against the raw server


async def test_sse_framing_is_parsed_whatever_the_chunking() -> None:
    # CRLF line ends split between chunks, a comment, a multi-line data field, an event for
    # another id, a notification, then the answer (with the id the request carried).

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
        request_id = int(body.split(b'"id":', 1)[1].split(b",", 1)[0])
        answer = (
            b'data: {"jsonrpc":"2.0","id":%d,\r\ndata: "result":{"content":[],"isError":false}}'
            % request_id
        )
        parts = [
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
            b": a comment\r",
            b'\nevent: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/message",',
            b'"params":{"level":"info","data":"x"}}\r\n\r',
            b'\ndata: {"jsonrpc":"2.0","id":"other","result":{}}\n\n',
            answer[:30],
            answer[30:] + b"\r",
            b"\n\r\n",
        ]
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp"
    seen: list[dict[str, Any]] = []

    async def note(message: dict[str, Any]) -> None:
        seen.append(message)

    try:
        result = await mcp_rpc.call(url, "tools/call", ECHO, {}, timeout=5, on_notification=note)
    finally:
        server.close()
    assert result == {"content": [], "isError": False}
    assert [m["method"] for m in seen] == ["notifications/message"]


async def test_a_stream_that_ends_without_the_answer_is_an_error(raw: RawServer) -> None:
    raw.chunks = [
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        b'data: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n',
    ]
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(raw.url, "tools/call", ECHO, {}, timeout=5)
    assert "closed the stream without answering" in refused.value.message


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # As the SDK path since OAuth upstreams: the status, so the account can be expired.
        (401, "rejected the credential"),
        (403, "refused access"),
        (404, "returned an error: Not Found"),
        (500, "returned an error: Server returned an error response"),
    ],
)
async def test_a_bare_http_error_reads_as_the_sdk_reports_it(
    raw: RawServer, status: int, expected: str
) -> None:
    raw.chunks = [_http(status, "text/plain", b"secret-ish body", reason="X")]
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(raw.url, "tools/call", ECHO, {"Authorization": "Bearer k"}, timeout=5)
    assert expected in refused.value.message
    assert "secret-ish" not in refused.value.message and "Bearer" not in refused.value.message
    if status in (401, 403):
        assert refused.value.provider_status == status


async def test_a_jsonrpc_error_body_at_an_error_status_wins(raw: RawServer) -> None:
    body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32021,"message":"needs sampling"}}'
    raw.chunks = [_http(400, "application/json", body)]
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(raw.url, "tools/call", ECHO, {}, timeout=5)
    assert refused.value.details["jsonrpc_code"] == -32021


async def test_a_compressed_answer_is_refused_and_said_so(raw: RawServer) -> None:
    body = _http(200, "application/json", b"\x1f\x8b")
    raw.chunks = [body.replace(b"content-length", b"content-encoding: gzip\r\ncontent-length")]
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(raw.url, "tools/call", ECHO, {}, timeout=5)
    assert refused.value.message == "the upstream MCP server sent a compressed response; refused"


async def test_non_json_and_nan_bodies_are_refused(raw: RawServer) -> None:
    raw.chunks = [_http(200, "application/json", b'{"jsonrpc":"2.0","id":1,"result":NaN}')]
    with pytest.raises(ProviderError):
        await mcp_rpc.call(raw.url, "tools/call", ECHO, {}, timeout=5)


async def test_the_request_is_stamped_for_the_stateless_wire(raw: RawServer) -> None:
    raw.chunks = [_http(200, "text/html", b"<html>")]
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(raw.url, "tools/call", ECHO, {"X-Api-Key": "k1"}, timeout=5)
    assert "Unexpected content type: text/html" in refused.value.message
    request = raw.requests[0].decode().lower()
    assert "mcp-protocol-version: 2026-07-28" in request
    assert "mcp-method: tools/call" in request and "mcp-name: echo" in request
    assert "x-api-key: k1" in request and "accept-encoding: identity" in request
    assert '"io.modelcontextprotocol/protocolversion":"2026-07-28"' in request


async def test_an_input_required_result_passes_through(raw: RawServer) -> None:
    body = b'{"jsonrpc":"2.0","id":%d,"result":{"resultType":"input_required","requestState":"s"}}'
    # The id is the next one the client will use.
    next_id = next(mcp_rpc._ids) + 1
    raw.chunks = [_http(200, "application/json", body % next_id)]
    result = await mcp_rpc.call(raw.url, "tools/call", ECHO, {}, timeout=5)
    assert result == {"resultType": "input_required", "requestState": "s"}


# ------------------------------------------------------------------ mcp_upstream's use of it


def _echo_tool(**extra: Any) -> dict[str, Any]:
    return {
        "name": "echo",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
        **extra,
    }


async def _count_plain_calls(monkeypatch: Any) -> list[str]:
    calls: list[str] = []
    real = mcp_rpc.call

    async def counted(url: str, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(method)
        return await real(url, method, *args, **kwargs)

    monkeypatch.setattr(mcp_rpc, "call", counted)
    return calls


async def test_plain_calls_skip_the_sdk_once_the_era_is_known(
    upstream: UpstreamServer, monkeypatch: Any
) -> None:
    plain = await _count_plain_calls(monkeypatch)
    kwargs = {"server_url": upstream.url, "headers": {}, "name": "echo", "tool": _echo_tool()}
    first = await mcp_upstream.call_tool(arguments={"text": "a"}, **kwargs)
    assert plain == []  # the SDK probed the server and remembered its era
    assert mcp_direct.is_modern(upstream.url)
    second = await mcp_upstream.call_tool(arguments={"text": "a"}, **kwargs)
    assert plain == ["tools/call"]
    assert second == first  # the same ToolResult either way

    # Progress relaying, a tool with an invalid x-mcp-header annotation or no definition: the SDK.
    async def progress(*_: Any) -> None:
        return None

    await mcp_upstream.call_tool(arguments={"text": "a"}, progress_callback=progress, **kwargs)
    invalid_tool = _echo_tool(
        inputSchema={
            "type": "object",
            "properties": {"text": {"type": "number", "x-mcp-header": "Text"}},
        }
    )
    await mcp_upstream.call_tool(
        server_url=upstream.url, headers={}, name="echo", arguments={"text": "a"},
        tool=invalid_tool,
    )  # fmt: skip
    await mcp_upstream.call_tool(
        server_url=upstream.url, headers={}, name="echo", arguments={"text": "a"}
    )
    assert plain == ["tools/call"]


async def _routed_tool(upstream: UpstreamServer) -> dict[str, Any]:
    """``routed`` as the upstream lists it (what a catalogue sync stores)."""
    async with mcp_upstream.client_session(server_url=upstream.url, headers={}) as client:
        listed = await client.list_tools()
    tool = next(t for t in listed.tools if t.name == "routed")
    return tool.model_dump(by_alias=True, exclude_none=True, mode="json")


async def test_the_sdk_server_refuses_a_call_without_its_mcp_param_headers(
    upstream: UpstreamServer,
) -> None:
    # A call without them (what an SDK session that never listed the tool sends first; its
    # Client then re-lists and resends): refused, so the mirroring test below can fail.
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call(
            upstream.url,
            "tools/call",
            {"name": "routed", "arguments": {"region": "eu-west"}},
            {},
            timeout=10,
        )
    assert "Mcp-Param-Region header is missing" in refused.value.message


async def test_x_mcp_header_arguments_are_mirrored_into_mcp_param_headers(
    upstream: UpstreamServer, monkeypatch: Any
) -> None:
    tool = await _routed_tool(upstream)  # the SDK: era now known
    assert tool["inputSchema"]["properties"]["region"]["x-mcp-header"] == "Region"
    assert mcp_direct.eligible(upstream.url, tool)
    plain = await _count_plain_calls(monkeypatch)
    # A connection header of the same name (another case) gives way to the mirrored one.
    kwargs = {"server_url": upstream.url, "headers": {"mcp-param-region": "x"}, "tool": tool}
    result = await mcp_upstream.call_tool(
        name="routed", arguments={"region": "eu-west", "count": 3, "note": "n"}, **kwargs
    )
    assert plain == ["tools/call"]
    assert result.structured == {"mcp-param-region": "eu-west", "mcp-param-count": "3"}
    # A value that is no plain header value goes base64-wrapped (the SDK's sentinel); an
    # absent argument sends no header.
    odd = await mcp_upstream.call_tool(
        name="routed", arguments={"region": "Zürich\r\nHost: evil"}, **kwargs
    )
    assert odd.structured == {"mcp-param-region": "=?base64?WsO8cmljaA0KSG9zdDogZXZpbA==?="}


def test_mirrored_header_names_are_checked() -> None:
    # Stored catalogue data is not trusted to yield only safe names (the SDK's validator would
    # refuse these; the check here does not depend on it).
    for token in ("Host\r\nX", "a b"):
        with pytest.raises(ProviderError):
            mcp_direct._with_param_headers({}, {("a",): token}, {"a": "v"})
    assert mcp_direct._with_param_headers({"A": "1"}, {("a",): "Tok"}, {"a": True}) == {
        "A": "1",
        "Mcp-Param-Tok": "true",
    }


async def test_a_failed_plain_call_forgets_the_era(upstream: UpstreamServer) -> None:
    kwargs = {"server_url": upstream.url, "headers": {}, "tool": _echo_tool()}
    await mcp_upstream.call_tool(name="echo", arguments={"text": "a"}, **kwargs)
    assert upstream.url in eras
    with pytest.raises(ProviderError):
        await mcp_upstream.call_tool(name="sleep", arguments={"seconds": 2}, timeout=0.2, **kwargs)
    assert upstream.url not in eras


async def test_structured_content_is_checked_against_the_output_schema(
    upstream: UpstreamServer,
) -> None:
    schema = {"type": "object", "properties": {"result": {"type": "integer"}}}
    tool = _echo_tool(outputSchema=schema)
    kwargs = {"server_url": upstream.url, "headers": {}, "name": "echo", "tool": tool}
    await mcp_upstream.call_tool(arguments={"text": "a"}, **kwargs)  # the SDK: era now known
    assert mcp_direct.is_modern(upstream.url)
    with pytest.raises(ProviderError) as refused:
        await mcp_upstream.call_tool(arguments={"text": "secret-value"}, **kwargs)
    message = refused.value.message
    assert "does not match its output schema (at result: type)" in message
    assert "secret-value" not in message
    required = _echo_tool(outputSchema={"type": "object", "required": ["other"]})
    with pytest.raises(ProviderError) as missing:
        await mcp_upstream.call_tool(
            server_url=upstream.url, headers={}, name="echo", arguments={"text": "a"},
            tool=required,
        )  # fmt: skip
    assert "does not match its output schema (at (root): required)" in missing.value.message


def test_a_tools_plan_is_made_once_per_schema_value() -> None:
    schema = {"type": "object", "properties": {"result": {"type": "string"}}}
    first = _echo_tool(outputSchema=schema)
    plan = mcp_direct._plan(first)
    assert mcp_direct._plan(first) is plan  # the same definition object: by identity
    rebuilt = _echo_tool(outputSchema=dict(schema), description="per call")
    assert mcp_direct._plan(rebuilt) is plan  # a definition built per call: by value
    other = _echo_tool(outputSchema={"type": "object", "required": ["x"]})
    assert mcp_direct._plan(other) is not plan


async def test_a_malformed_url_is_refused_as_on_the_sdk_path() -> None:
    # egress.http1 raises httpx2's InvalidURL (not a bare ValueError), as the SDK path does.
    with pytest.raises(ProviderError) as refused:
        await mcp_rpc.call("http://127.0.0.1:ab/mcp", "tools/list", {}, {}, timeout=5)
    assert str(refused.value) == "the upstream MCP server call failed: InvalidURL"
