"""The load generator's client: a lean HTTP/1.1 keep-alive client and latency statistics.

Why not httpx for measuring: on a 2-core machine the client shares the CPU with the gateway, the
upstream, PostgreSQL and Redis; httpx spends ~0.3–0.5 ms of Python per request, this client a
tenth of that, so more of the CPU (and of the measured time) is the system under test. Each
worker owns one connection per server (like an agent's keep-alive pool). ``run.py`` checks once
that the official ``mcp`` client gets the same answer through the gateway as this one.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MODERN = "2026-07-28"
CLIENT_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "vmcp-bench", "version": "1.0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def post(self, headers: list[tuple[str, str]], body: bytes) -> tuple[int, bytes]:
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers)
        head += f"Content-Length: {len(body)}\r\n\r\n"
        request = head.encode("latin-1") + body
        for attempt in (1, 2):
            if self.writer is None:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(request)
                return await self._read_response()
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _read_response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        chunked = close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                body += await self.reader.readexactly(size)
                await self.reader.readline()
            data = bytes(body)
        elif length is not None:
            data = await self.reader.readexactly(length)
        else:
            data = await self.reader.read()
            close = True
        if close:
            await self.close()
        return status, data


def mcp_headers(method: str, *, name: str | None = None, token: str | None = None) -> list:
    """The headers a conforming 2026-07-28 client sends (session-less)."""
    headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", MODERN),
        ("Mcp-Method", method),
    ]
    if name is not None:
        headers.append(("Mcp-Name", name))
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    return headers


def mcp_body(method: str, params: dict[str, Any], request_id: int = 1) -> bytes:
    params = {**params, "_meta": CLIENT_META}
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    ).encode()


def parse_result(status: int, data: bytes) -> tuple[bool, Any]:
    """(ok, result): ok when HTTP 200, a JSON-RPC result, and not an ``isError`` tool result."""
    if status != 200:
        return False, data[:300]
    text = data.decode()
    if text.startswith("event:") or text.startswith("data:"):
        # An SSE body: the last data line is the response.
        text = [ln[5:].strip() for ln in text.splitlines() if ln.startswith("data:")][-1]
    payload = json.loads(text)
    result = payload.get("result")
    if result is None or result.get("isError"):
        return False, payload
    return True, result


@dataclass
class Request:
    """A prepared request against one endpoint (headers and body built once)."""

    url: str
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def tools_call(cls, url: str, tool: str, arguments: dict, token: str | None) -> Request:
        return cls(
            url,
            mcp_headers("tools/call", name=tool, token=token),
            mcp_body("tools/call", {"name": tool, "arguments": arguments}),
        )

    @classmethod
    def tools_list(cls, url: str, token: str | None) -> Request:
        return cls(url, mcp_headers("tools/list", token=token), mcp_body("tools/list", {}))

    @classmethod
    def get_json(cls, url: str, token: str) -> Request:
        # A plain REST call (the fake provider, directly): sent as POST-less GET below.
        return cls(url, [("Authorization", f"Bearer {token}")], b"")


class Pool:
    """One connection per (worker, URL)."""

    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}

    def get(self, url: str) -> Connection:
        conn = self.connections.get(url)
        if conn is None:
            conn = self.connections[url] = Connection(url)
        return conn

    async def close(self) -> None:
        for conn in self.connections.values():
            await conn.close()


async def timed(pool: Pool, request: Request) -> tuple[float, bool, Any]:
    conn = pool.get(request.url)
    started = time.perf_counter()
    if request.body:
        status, data = await conn.post(request.headers, request.body)
    else:
        status, data = await _get(conn, request.headers)
    elapsed = time.perf_counter() - started
    if request.body:
        ok, result = parse_result(status, data)
    else:
        ok, result = status == 200, data[:200]
    return elapsed, ok, result


async def _get(conn: Connection, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    head = f"GET {conn.path} HTTP/1.1\r\nHost: {conn.host}:{conn.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    for attempt in (1, 2):
        if conn.writer is None:
            await conn._connect()
        assert conn.writer is not None
        try:
            conn.writer.write(head.encode("latin-1"))
            return await conn._read_response()
        except (ConnectionError, asyncio.IncompleteReadError, HttpError):
            await conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- statistics


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Samples:
    """Latencies in seconds, plus failures."""

    values: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: Any = None

    def add(self, elapsed: float, ok: bool, result: Any) -> None:
        self.values.append(elapsed)
        if not ok:
            self.errors += 1
            if self.first_error is None:
                self.first_error = result

    def summary(self) -> dict[str, Any]:
        ms = [v * 1000 for v in self.values]
        return {
            "n": len(ms),
            "errors": self.errors,
            "p50_ms": round(percentile(ms, 50), 3),
            "p95_ms": round(percentile(ms, 95), 3),
            "p99_ms": round(percentile(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3) if ms else None,
        }
