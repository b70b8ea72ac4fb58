"""The bench's peer: a FastMCP proxy in front of the same upstream, run in its own virtualenv.

    var/bench/fastmcp-venv/bin/python bench/peers/fastmcp_proxy.py \
        --port 8766 --upstream http://127.0.0.1:8765/mcp --tools echo --token-file PATH

What a team would write to get vmcp's two guarantees from FastMCP on the hot path, in FastMCP's
own idioms: ``create_proxy`` (the recommended proxy factory, a fresh backend session per
request), an allow-list of tools (``enable(names=…, only=True)``: only what the vmcp virtual
server exposes from this upstream), and a bearer check (a static token compared in a FastMCP
middleware). Streamable HTTP on loopback, stateless with JSON responses, like the upstream.

Not imported by the project: it runs under ``fastmcp``'s own interpreter (``bench/harness/peer.py``
builds that virtualenv), because fastmcp's dependencies must not enter the project's venv.
"""

from __future__ import annotations

import argparse
import hmac
from pathlib import Path
from typing import Any

import uvicorn
from fastmcp.exceptions import MCPError
from fastmcp.server import create_proxy
from fastmcp.server.dependencies import get_http_headers
from fastmcp.server.middleware import Middleware, MiddlewareContext


class BearerCheck(Middleware):
    """Refuse any request whose ``Authorization`` is not ``Bearer <the static token>``."""

    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}".encode()

    async def on_request(self, context: MiddlewareContext[Any], call_next: Any) -> Any:
        given = get_http_headers(include={"authorization"}).get("authorization", "")
        if not hmac.compare_digest(given.encode(), self.expected):
            raise MCPError(code=-32001, message="unauthorized")
        return await call_next(context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the upstream's Streamable HTTP URL")
    parser.add_argument("--tools", required=True, help="comma-separated tool allow-list")
    parser.add_argument("--token-file", type=Path, required=True, help="the static bearer token")
    args = parser.parse_args()
    proxy = create_proxy(args.upstream, name="bench-fastmcp-proxy")
    proxy.enable(names={t for t in args.tools.split(",") if t}, only=True)
    proxy.add_middleware(BearerCheck(args.token_file.read_text().strip()))
    app = proxy.http_app(path="/mcp", json_response=True, stateless_http=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
