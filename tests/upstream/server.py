"""A real upstream MCP server for tests: the official ``mcp`` SDK served over Streamable HTTP.

It runs uvicorn on a free loopback port in a background thread. Its tool set can change while it
runs (``add_extra_tool`` / ``remove_tool``), so tests can prove that a second sync records the
difference.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

# A 1x1 transparent PNG: small, valid, and recognisable in assertions.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


class Sum(BaseModel):
    sum: float = Field(description="a + b")


def build_server(name: str = "upstream-test") -> MCPServer:
    server: MCPServer = MCPServer(name=name, version="1.0.0")

    @server.tool(description="Return the given text unchanged.")
    def echo(text: Annotated[str, Field(description="Text to echo back.")]) -> str:
        return text

    @server.tool(description="Add two numbers.")
    def add(a: float, b: float) -> Sum:
        return Sum(sum=a + b)

    @server.tool(description="Return a 1x1 PNG image.")
    def tiny_image() -> Image:
        return Image(data=PNG_1X1, format="png")

    @server.tool(description="Always fails with a tool error.")
    def fail(reason: str = "nope") -> str:
        raise ToolError(f"failed on purpose: {reason}")

    @server.tool(description="Report who the Authorization (or X-Api-Key) header says we are.")
    def whoami(ctx: Context) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
        authorization = headers.get("authorization", "")
        user = authorization.removeprefix("Bearer ").strip() if authorization else None
        return {"user": user, "x_api_key": headers.get("x-api-key")}

    @server.tool(description="Report progress three times, then return 'done'.")
    async def slow_progress(ctx: Context, steps: int = 3) -> str:
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
            await asyncio.sleep(0.01)
        return "done"

    @server.tool(description="Sleep for the given seconds (for timeouts).")
    async def sleep(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "woke"

    @server.tool(description="Return a text block of the given size in bytes.")
    def big(size: int) -> str:
        return "x" * size

    return server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class UpstreamServer:
    """A running upstream; ``url`` is its MCP endpoint (``http://127.0.0.1:<port>/mcp``)."""

    mcp: MCPServer
    port: int
    _server: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def url_with_host(self, host: str) -> str:
        return f"http://{host}:{self.port}/mcp"

    def add_extra_tool(self, name: str = "shout") -> None:
        def shout(text: str) -> str:
            return text.upper()

        self.mcp.add_tool(shout, name=name, description="Upper-case the text.")

    def remove_tool(self, name: str) -> None:
        self.mcp.remove_tool(name)

    def start(self) -> None:
        app = self.mcp.streamable_http_app(json_response=False, stateless_http=False)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="upstream-mcp", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the upstream MCP test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


@contextmanager
def run_upstream(name: str = "upstream-test") -> Iterator[UpstreamServer]:
    upstream = UpstreamServer(mcp=build_server(name), port=_free_port())
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()
