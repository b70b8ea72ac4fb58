"""A small pooled HTTP/1.1 client for plain JSON-RPC POSTs to upstream MCP servers.

``connectors.mcp_rpc`` sends one POST per ``tools/call`` and reads one JSON or SSE answer; on
httpx2 that costs more CPU than the rest of the call's client side (per request the connection
pool polls every idle socket, headers and body go out in two writes, and each step crosses
anyio). This client does only what that needs, with the guarantees of the other egress clients:

- every connection is opened through the SSRF check (``ssrf.resolve_checked``: resolve, refuse
  any non-public address unless the host is in ``VMCP_SSRF_ALLOWED_HOSTS``, connect to the
  checked address; TLS verifies the URL's host name with httpx2's trust store);
- no proxy, no redirects (a 3xx is returned as it is), no unix sockets;
- identity encoding asked, a compressed body refused, every body capped while it streams
  (``SizeGuard``-compatible flags for ``mcp_common.provider_error``);
- header names and values with CR, LF or NUL refused (no header injection from stored config);
- the call's ``traceparent`` when tracing is on.

Connections are kept per event loop and per (scheme, host, port), reused only when the previous
response was read to its end and nothing followed it (an answer whose end is ambiguous, RFC 9112
§6.3, is refused and its connection closed), and dropped after ``IDLE_SECONDS`` idle (below
the usual server keep-alive of 5 s) or when the peer closed them. Failures raise httpx2's
exception types, so callers translate them exactly as they translate the SDK's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx2

from vmcp_platform.observability import tracing

from .backends import EgressRefused
from .ssrf import UnsafeUrl, is_host_allowed, resolve_checked

IDLE_SECONDS = 4.0
MAX_IDLE_PER_ORIGIN = 50
MAX_CONNECTIONS_PER_LOOP = 200
MAX_HEAD_BYTES = 64 * 1024
READ_CHUNK = 64 * 1024
# What a request target keeps as it is: visible ASCII (existing %-escapes too); the rest (spaces,
# controls, non-ASCII) is %-encoded as UTF-8, as httpx2 does on the SDK path.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_HEX = b"0123456789abcdefABCDEF"


class Refused(httpx2.ConnectError, EgressRefused):
    """The SSRF guard refused the address (``refusal_of`` finds it)."""


class TooLarge(httpx2.ReadError):
    guard: Guard | None = None


@dataclass(eq=False)
class Guard:
    """What ``mcp_common.provider_error`` reads after a failure (as on ``upstream.SizeGuard``)."""

    limit: int
    exceeded: bool = False
    compressed: bool = False


Origin = tuple[str, str, int]


@dataclass(eq=False)
class _Connection:
    origin: Origin
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self, now: float) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and not self.unread()
            and now - self.idle_since < IDLE_SECONDS
        )

    def unread(self) -> bool:
        """Bytes the peer sent past the end of the last response: the next request would read
        them as its answer (response smuggling), so such a connection is never reused."""
        return bool(self.reader._buffer)  # asyncio keeps no public count of its buffer

    def close(self) -> None:
        try:
            self.writer.close()
        except RuntimeError:  # its loop is closed already (tests): nothing left to close
            pass


class _Pool:
    def __init__(self) -> None:
        self.idle: dict[Origin, list[_Connection]] = {}
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS_PER_LOOP)


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()
_ssl: ssl.SSLContext | None = None


def _pool() -> _Pool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = _Pool()
    return pool


def forget() -> None:
    """Close every pooled connection (tests; an upstream that was replaced)."""
    for pool in list(_pools.values()):
        for connections in pool.idle.values():
            for connection in connections:
                connection.close()
        pool.idle.clear()


def _ssl_context() -> ssl.SSLContext:
    global _ssl
    if _ssl is None:
        _ssl = httpx2.create_ssl_context()  # the trust store of the SDK's client
    return _ssl


async def _connect(origin: Origin) -> _Connection:
    scheme, host, port = origin
    try:
        checked = [] if is_host_allowed(host) else await resolve_checked(host, port)
    except UnsafeUrl as exc:
        raise Refused(exc.message) from None
    tls = _ssl_context() if scheme == "https" else None
    last: Exception | None = None
    for address in checked or [host]:
        try:
            reader, writer = await asyncio.open_connection(
                address,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
                limit=MAX_HEAD_BYTES,
            )
            return _Connection(origin, reader, writer)
        except (OSError, ssl.SSLError) as exc:
            last = exc
    raise httpx2.ConnectError(f"{type(last).__name__}: {last}"[:300])


class Response:
    """Status and headers of an answer; ``stream`` yields the body, capped; ``aclose`` ends it."""

    def __init__(
        self,
        pool: _Pool,
        connection: _Connection,
        status: int,
        headers: dict[str, str],
        guard: Guard,
        keep_alive: bool,
        length: int | None,
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.status_code = status
        self.headers = headers
        self._guard = guard
        self._keep_alive = keep_alive
        self._length = length
        self._done = False

    @property
    def stream(self) -> AsyncIterator[bytes]:
        return self._body()

    async def _body(self) -> AsyncIterator[bytes]:
        assert self._connection is not None
        reader = self._connection.reader
        received = 0
        async for chunk in self._raw(reader):
            received += len(chunk)
            if received > self._guard.limit:
                self._guard.exceeded = True
                raise TooLarge(f"response exceeded {self._guard.limit} bytes")
            yield chunk
        self._done = True

    async def _raw(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        headers = self.headers
        if self.status_code in (204, 304):
            return
        try:
            if "transfer-encoding" in headers:  # "chunked" (``_framing``)
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    digits = size_line.split(b";", 1)[0].strip()
                    if not digits or digits.strip(_HEX):  # int() takes "0x5", "+5", "5_0"
                        raise httpx2.RemoteProtocolError("malformed chunk size")
                    size = int(digits, 16)
                    if size == 0:
                        while (await reader.readuntil(b"\r\n")) != b"\r\n":
                            pass  # trailers
                        return
                    if size > self._guard.limit:
                        self._guard.exceeded = True
                        raise TooLarge(f"response exceeded {self._guard.limit} bytes")
                    chunk = await reader.readexactly(size + 2)
                    yield chunk[:-2]
            elif self._length is not None:
                remaining = self._length
                if remaining > self._guard.limit:
                    self._guard.exceeded = True
                    raise TooLarge(f"response exceeded {self._guard.limit} bytes")
                while remaining > 0:
                    chunk = await reader.read(min(remaining, READ_CHUNK))
                    if not chunk:
                        raise httpx2.RemoteProtocolError("the body ended early")
                    remaining -= len(chunk)
                    yield chunk
            else:
                self._keep_alive = False  # the body ends when the connection does
                while chunk := await reader.read(READ_CHUNK):
                    yield chunk
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            raise httpx2.RemoteProtocolError("malformed response body") from None
        except (ConnectionError, OSError) as exc:
            raise httpx2.ReadError(type(exc).__name__) from None

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        self._pool.slots.release()
        idle = self._pool.idle.setdefault(connection.origin, [])
        if (
            self._done
            and self._keep_alive
            and not connection.unread()
            and len(idle) < MAX_IDLE_PER_ORIGIN
        ):
            connection.idle_since = time.monotonic()
            idle.append(connection)
        else:
            connection.close()


def _checked(name: str, value: str) -> str:
    if any(c in name or c in value for c in "\r\n\0") or ":" in name or not name:
        raise httpx2.LocalProtocolError("a header name or value is not allowed")
    return f"{name}: {value}\r\n"


async def post(
    url: str, *, headers: Mapping[str, str], content: bytes, limit: int
) -> tuple[Response, Guard]:
    """POST ``content``; the caller bounds the time (``asyncio.timeout``) and must ``aclose``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in ("http", "https") or not host:
        raise httpx2.UnsupportedProtocol("only http and https URLs")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # not digits, or out of range: refused as httpx2 refuses it
        raise httpx2.InvalidURL("the URL's port is malformed") from None
    origin: Origin = (scheme, host, port)
    send = dict(headers)
    send["accept-encoding"] = "identity"  # the cap counts received bytes: no inflation after it
    if tracing.ENABLED:
        carrier = _Carrier(send, content)
        tracing.inject_upstream(carrier)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        target = quote(target, safe=_TARGET_SAFE)
    except UnicodeEncodeError:  # a lone surrogate: no bytes to send
        raise httpx2.InvalidURL("the URL's path cannot be encoded") from None
    head = f"POST {target} HTTP/1.1\r\nhost: {netloc}\r\n" + "".join(
        _checked(name, value)
        for name, value in send.items()
        if name.lower() not in ("host", "content-length", "transfer-encoding", "connection")
    )
    try:
        request = (head + f"content-length: {len(content)}\r\n\r\n").encode("latin-1") + content
    except UnicodeEncodeError:  # the message names neither: a header value may be a secret
        raise httpx2.LocalProtocolError("a header value or the host is not latin-1") from None

    pool = _pool()
    await pool.slots.acquire()
    try:
        connection = _reuse(pool, origin) or await _connect(origin)
    except BaseException:
        pool.slots.release()
        raise
    guard = Guard(limit=limit)
    try:
        connection.writer.write(request)
        status, response_headers, keep_alive = await _head(connection.reader)
        length = _framing(response_headers)
    except BaseException as exc:
        pool.slots.release()
        connection.close()
        if isinstance(exc, ConnectionError | OSError):
            raise httpx2.ReadError(type(exc).__name__) from None
        raise
    response = Response(pool, connection, status, response_headers, guard, keep_alive, length)
    encoding = response_headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        guard.compressed = True
        await response.aclose()
        refused = TooLarge("a compressed response was refused (identity was asked)")
        refused.guard = guard  # the caller has no guard yet: it names the reason from this one
        raise refused
    return response, guard


def _reuse(pool: _Pool, origin: Origin) -> _Connection | None:
    idle = pool.idle.get(origin)
    now = time.monotonic()
    while idle:
        connection = idle.pop()
        if connection.usable(now):
            return connection
        connection.close()
    return None


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bool]:
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise httpx2.RemoteProtocolError("the server closed without answering") from None
        except asyncio.LimitOverrunError:
            raise httpx2.RemoteProtocolError("response headers too large") from None
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise httpx2.RemoteProtocolError("malformed status line")
        status = int(code)
        if 100 <= status < 200:
            continue  # an interim answer (100 Continue): the real one follows
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, sep, value = line.partition(":")
                if not sep:
                    raise httpx2.RemoteProtocolError("malformed header line")
                # Repeated lines are one comma-separated list (RFC 9110 §5.3), so two differing
                # Content-Length lines are seen as such rather than the last one winning.
                name, value = name.strip().lower(), value.strip()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        keep_alive = version == "HTTP/1.1" and "close" not in headers.get("connection", "")
        return status, headers, keep_alive


def _framing(headers: dict[str, str]) -> int | None:
    """The body's declared length, or ``None`` (chunked, or up to the close); refuses an answer
    whose end two parties could place differently (RFC 9112 §6.3): a later request on the
    connection would read the rest as its answer."""
    if "transfer-encoding" in headers:
        if "content-length" in headers:
            raise httpx2.RemoteProtocolError("both Transfer-Encoding and Content-Length")
        if headers["transfer-encoding"].lower() != "chunked":
            raise httpx2.RemoteProtocolError("unsupported Transfer-Encoding")
        return None
    if "content-length" not in headers:
        return None
    # Digits only (``int`` takes "+5", "1_0", "-1", " 5"), and one value: repeated lines or a
    # list are accepted only when every value is the same (RFC 9110 §8.6).
    values = {value.strip() for value in headers["content-length"].split(",")}
    value = values.pop()
    if values or not (value.isascii() and value.isdigit()):
        raise httpx2.RemoteProtocolError("malformed Content-Length")
    return int(value)


class _Carrier:
    """What ``tracing.inject_upstream`` reads and writes on a request."""

    def __init__(self, headers: dict[str, str], content: bytes) -> None:
        self.headers = headers
        self.content = content
