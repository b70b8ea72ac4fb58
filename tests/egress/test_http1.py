"""``vmcp_platform.egress.http1``, the pooled HTTP/1.1 client of plain upstream JSON-RPC POSTs.

Against raw asyncio servers on loopback that write exactly the given bytes and count the
connections they accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from vmcp_platform.egress import http1, refusal_of
from vmcp_platform.egress.upstream import upstream_post


class Server:
    def __init__(self, answers: list[list[bytes]], *, close_after: bool = False) -> None:
        self.answers = answers
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
                self.requests.append(head + await reader.readexactly(length))
                for part in self.answers[(len(self.requests) - 1) % len(self.answers)]:
                    writer.write(part)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp?x=1"


@pytest.fixture(autouse=True)
async def _fresh() -> AsyncIterator[None]:
    http1.forget()
    yield
    http1.forget()  # in the test's loop: the servers' handlers see their connections end
    await asyncio.sleep(0.01)


async def _serve(server: Server) -> AsyncIterator[Server]:
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


async def _body(response: Any) -> bytes:
    try:
        return b"".join([chunk async for chunk in response.stream])
    finally:
        await response.aclose()


def _json(body: bytes, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
)


async def _post(server: Server, **headers: str) -> Any:
    return await upstream_post(server.url, headers=headers, content=b"{}", timeout=5)


async def test_keep_alive_connections_are_reused_and_bodies_read() -> None:
    async for server in _serve(Server([[_json(b'{"a":1}')], [CHUNKED]])):
        first, _ = await _post(server)
        assert first.status_code == 200 and await _body(first) == b'{"a":1}'
        second, _ = await _post(server)
        assert await _body(second) == b"hello, world"
        third, _ = await _post(server)
        assert await _body(third) == b'{"a":1}'
        assert server.connections == 1
        assert server.requests[0].startswith(b"POST /mcp?x=1 HTTP/1.1\r\n")
        assert b"host: 127.0.0.1:" in server.requests[0]
        assert b"accept-encoding: identity" in server.requests[0]


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    async for server in _serve(Server([[_json(b"{}")]], close_after=True)):
        for _ in range(3):
            response, _ = await _post(server)
            assert await _body(response) == b"{}"
            await asyncio.sleep(0.05)  # the peer's close reaches the idle connection
        assert server.connections == 3


async def test_a_response_not_read_to_its_end_closes_its_connection() -> None:
    async for server in _serve(Server([[CHUNKED]])):
        response, _ = await _post(server)
        await response.aclose()
        response, _ = await _post(server)
        assert await _body(response) == b"hello, world"
        assert server.connections == 2


async def test_bodies_over_the_limit_are_cut_off(settings: Any) -> None:
    settings.VMCP_UPSTREAM_MAX_RESPONSE_BYTES = 8
    async for server in _serve(Server([[_json(b'{"a":"0123456789"}')], [CHUNKED]])):
        for _ in range(2):  # declared length, then chunks
            response, guard = await _post(server)
            with pytest.raises(http1.TooLarge):
                await _body(response)
            assert guard.exceeded


async def test_a_compressed_body_is_refused() -> None:
    async for server in _serve(Server([[_json(b"xx", "content-encoding: gzip\r\n")]])):
        with pytest.raises(http1.TooLarge):
            await _post(server)


async def test_a_redirect_is_returned_not_followed() -> None:
    answer = (
        b"HTTP/1.1 307 Temporary Redirect\r\n"
        b"location: http://10.0.0.1/\r\ncontent-length: 0\r\n\r\n"
    )
    async for server in _serve(Server([[answer]])):
        response, _ = await _post(server)
        assert response.status_code == 307 and await _body(response) == b""
        assert len(server.requests) == 1


async def test_header_injection_is_refused() -> None:
    async for server in _serve(Server([[_json(b"{}")]])):
        with pytest.raises(httpx2.LocalProtocolError):
            await _post(server, **{"X-Api-Key": "k\r\nX-Evil: 1"})
        assert server.requests == []


async def test_private_addresses_are_refused_at_connect(settings: Any) -> None:
    settings.VMCP_SSRF_ALLOWED_HOSTS = []
    async for server in _serve(Server([[_json(b"{}")]])):
        with pytest.raises(httpx2.ConnectError) as refused:
            await _post(server)
        assert refusal_of(refused.value) is not None
        assert server.connections == 0


async def test_a_server_that_closes_without_answering_is_an_error() -> None:
    async for server in _serve(Server([[b""]], close_after=True)):
        with pytest.raises(httpx2.RemoteProtocolError):
            await _post(server)


# ------------------------------------------------- framing: the next request never reads leftovers

SMUGGLED = _json(b'{"smuggled":1}')


async def _second_is_genuine(server: Server) -> None:
    """A second POST on the same pool gets its own answer, not bytes left from the first."""
    await asyncio.sleep(0.05)  # whatever the first answer left has reached the client's buffer
    response, _ = await _post(server)
    assert await _body(response) == b'{"b":2}'
    assert server.connections == 2


async def test_a_connection_with_bytes_left_after_the_body_is_not_reused() -> None:
    first = _json(b'{"a":1}') + SMUGGLED  # one write: a second answer nobody asked for
    async for server in _serve(Server([[first], [_json(b'{"b":2}')]])):
        response, _ = await _post(server)
        assert await _body(response) == b'{"a":1}'
        await _second_is_genuine(server)


@pytest.mark.parametrize(
    "framing",
    [
        b"transfer-encoding: chunked\r\ncontent-length: 5",
        b"content-length: 5\r\ntransfer-encoding: chunked",
        b"transfer-encoding: chunked, gzip",  # chunked not last: the body ends at the close
    ],
)
async def test_an_answer_with_ambiguous_framing_is_refused(framing: bytes) -> None:
    first = b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + SMUGGLED
    async for server in _serve(Server([[first], [_json(b'{"b":2}')]])):
        with pytest.raises(httpx2.RemoteProtocolError):
            response, _ = await _post(server)
            await _body(response)
        await _second_is_genuine(server)


@pytest.mark.parametrize(
    "length",
    [
        b"content-length: -1",  # int() read it as a body already finished
        b"content-length: +7",
        b"content-length: 0_7",
        b"content-length: 7, 9",
        b"content-length: 9\r\ncontent-length: 7",  # the last line used to win
        b"content-length: \xb2",  # a digit to str.isdigit, not to HTTP
        b"content-length: ",
    ],
)
async def test_a_malformed_content_length_is_refused(length: bytes) -> None:
    first = b"HTTP/1.1 200 OK\r\n" + length + b'\r\n\r\n{"a":1}' + SMUGGLED
    async for server in _serve(Server([[first], [_json(b'{"b":2}')]])):
        with pytest.raises(httpx2.RemoteProtocolError):
            response, _ = await _post(server)
            await _body(response)
        await _second_is_genuine(server)


@pytest.mark.parametrize(
    "length", [b"content-length: 7, 7", b"content-length: 7\r\nContent-Length: 7"]
)
async def test_repeated_identical_content_lengths_are_one(length: bytes) -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + length + b'\r\n\r\n{"a":1}'
    async for server in _serve(Server([[answer]])):
        for _ in range(2):
            response, _ = await _post(server)
            assert await _body(response) == b'{"a":1}'
        assert server.connections == 1


# ------------------------------------------------------ URLs and headers that cannot go on the wire


@pytest.mark.parametrize("port", ["99999", "ab", "+80", "-1"])
async def test_a_malformed_port_is_refused_as_httpx2_refuses_it(port: str) -> None:
    async for server in _serve(Server([[_json(b'{"b":2}')]])):
        with pytest.raises(httpx2.InvalidURL):
            await upstream_post(
                f"http://127.0.0.1:{port}/mcp", headers={}, content=b"{}", timeout=5
            )
        response, _ = await _post(server)  # the pool still serves the next request
        assert await _body(response) == b'{"b":2}'


async def test_a_path_outside_ascii_is_percent_encoded_and_a_lone_surrogate_refused() -> None:
    async for server in _serve(Server([[_json(b'{"b":2}')]])):
        url = f"http://127.0.0.1:{server.port}/mcp/\u4e2d é x?q=\u00fc"
        response, _ = await upstream_post(url, headers={}, content=b"{}", timeout=5)
        assert await _body(response) == b'{"b":2}'
        assert server.requests[0].startswith(b"POST /mcp/%E4%B8%AD%20%C3%A9%20x?q=%C3%BC ")
        with pytest.raises(httpx2.InvalidURL):
            await upstream_post(url + "\udcff", headers={}, content=b"{}", timeout=5)
        with pytest.raises(httpx2.LocalProtocolError) as refused:
            await _post(server, **{"X-Api-Key": "s3cret-\u4e2d"})
        assert "s3cret" not in str(refused.value)
        assert len(server.requests) == 1


@pytest.mark.parametrize("size", [b"0x5", b"+5", b"5_0", b"-5", b""])
async def test_a_malformed_chunk_size_is_refused(size: bytes) -> None:
    first = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        + size
        + b"\r\nhello\r\n0\r\n\r\n"
        + SMUGGLED
    )
    async for server in _serve(Server([[first], [_json(b'{"b":2}')]])):
        with pytest.raises(httpx2.RemoteProtocolError):
            async with asyncio.timeout(2):  # "5_0" read as 0x50 waited for bytes never sent
                response, _ = await _post(server)
                await _body(response)
        await _second_is_genuine(server)
