"""Everything under ``/t/<tenant>/mcp/`` that is not an MCP endpoint: a JSON-RPC 404.

Without it such a path (``/mcp/<id>/extra``, ``/mcp/``, ``//``) fell through to Django, which
answers HTML (a 404 page, or the CSRF page for a POST); an MCP client must only ever see JSON.
"""

from __future__ import annotations

from typing import Any

from .jsonrpc import INVALID_REQUEST, JsonRpcError, dumps, error_message


async def mcp_not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    error = JsonRpcError(INVALID_REQUEST, "Not found: no such MCP server")
    body = dumps(error_message(None, error))
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
