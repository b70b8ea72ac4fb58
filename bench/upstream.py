"""The benchmark's upstream: a tiny MCP server (the official ``mcp`` SDK) in its own process.

    python bench/upstream.py --port 8765 [--stateful]

Two tools, ``echo`` (returns its text; the one the bench calls) and ``reverse`` (which neither
the vmcp virtual server nor the FastMCP peer's allow-list exposes, so their filters have work),
served over Streamable HTTP at ``/mcp`` by uvicorn. It runs in a process of its own so that it
does not share an interpreter (and its GIL) with the load generator or the gateway. JSON
responses and stateless HTTP by default: the cheapest an SDK server gets, so that the difference
between a direct call and a call through vmcp is vmcp's cost.
"""

from __future__ import annotations

import argparse
from typing import Annotated

import uvicorn
from mcp.server.mcpserver import MCPServer
from pydantic import Field


def build_server() -> MCPServer:
    server: MCPServer = MCPServer(name="bench-upstream", version="1.0.0")

    @server.tool(description="Return the given text unchanged.")
    def echo(text: Annotated[str, Field(description="Text to echo back.")]) -> str:
        return text

    @server.tool(description="Return the given text reversed.")
    def reverse(text: Annotated[str, Field(description="Text to reverse.")]) -> str:
        return text[::-1]

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stateful", action="store_true", help="sessions and SSE responses")
    args = parser.parse_args()
    app = build_server().streamable_http_app(
        json_response=not args.stateful, stateless_http=not args.stateful
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
