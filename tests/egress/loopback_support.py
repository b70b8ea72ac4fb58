"""A loopback-only service the SSRF tests aim at: it records every request it receives and
answers like a friendly provider (so a request that got through would look like a success)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Loopback:
    """Listens on 127.0.0.1:port and [::1]:port (same port), so every spelling of loopback
    that a client could connect to lands here."""

    port: int
    seen: list[Seen] = field(default_factory=list)
    # What a redirect answer points at; empty: answer 200.
    redirect_to: str = ""
    # Answer with a gzip body that inflates to 20 MB (about 20 KB on the wire), unasked.
    gzip_bomb: bool = False

    def everything_received(self) -> bytes:
        return b"\n".join(
            s.method.encode() + s.path.encode() + json.dumps(s.headers).encode() + s.body
            for s in self.seen
        )


def _handler(state: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            state.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            if state.redirect_to:
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if state.gzip_bomb:
                bomb = gzip.compress(b"0" * 20_000_000)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(bomb)))
                self.end_headers()
                self.wfile.write(bomb)
                return
            payload = json.dumps(
                {"login": "internal-service", "access_token": "stolen", "ok": True}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _answer  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    state = Loopback(port=0)
    v4 = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = v4.server_address[1]
    v6 = _V6Server(("::1", state.port), _handler(state))
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in (v4, v6)
    ]
    for thread in threads:
        thread.start()
    try:
        yield state
    finally:
        for server in (v4, v6):
            server.shutdown()
            server.server_close()


@pytest.fixture
def nothing_allowed() -> Iterator[None]:
    """The production default: no host is exempt from the SSRF rules (the test settings allow
    127.0.0.1 and localhost for the suite's fake providers)."""
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=[]):
        yield


# Spellings of "this machine" (and the metadata service) the guard must see through.
LOOPBACK_URLS = {
    "localhost": "http://localhost:{port}/api",
    "localhost-dot": "http://localhost.:{port}/api",
    "decimal": "http://2130706433:{port}/api",
    "zero": "http://0:{port}/api",
    "short": "http://127.1:{port}/api",
    "hex": "http://0x7f.0.0.1:{port}/api",
    "ipv6": "http://[::1]:{port}/api",
    "ipv4-mapped": "http://[::ffff:127.0.0.1]:{port}/api",
    "metadata": "http://169.254.169.254/latest/meta-data/",
}
