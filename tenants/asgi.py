"""Tenant resolution for ASGI apps that are not Django views (the MCP consumer).

``/t/<slug>/…`` → ``scope["tenant"]`` (a ``Tenant``), looked up in the public schema from a
sync function; an unknown or suspended tenant is a 404 with the platform's JSON error shape.
The lookup is one indexed query and is not cached: a cached row outlives a suspension or a
tenant re-created under the same slug (new primary key, new schema), and every request makes
a token query right after anyway. When the database cannot be reached the answer is a 503
JSON-RPC error (-32001, ``Retry-After``): this middleware fronts the MCP endpoint, whose
clients parse JSON-RPC, and it fails closed. The schema is never *selected* here: code that
needs the tenant's tables opens ``tenant_context(scope["tenant"])`` in its own sync function.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from .middleware import TENANT_PATH_RE
from .selectors import tenant_get_by_slug

logger = logging.getLogger(__name__)

# JSON-RPC's "dependency unavailable" (gateway.mcp.jsonrpc.SERVICE_UNAVAILABLE; this app sits
# below the gateway, so the number is repeated here) and the wait a client is told.
SERVICE_UNAVAILABLE = -32001
RETRY_AFTER_SECONDS = "5"


def _lookup(slug: str) -> Any:
    # The MCP consumer skips Channels' per-message ``close_old_connections`` hop (its warm path
    # needs no Django connection), so the ORM paths drop a dead or expired connection here.
    if not connection.in_atomic_block:
        close_old_connections()
    connection.set_schema_to_public()
    return tenant_get_by_slug(slug)


async def tenant_for_slug(slug: str) -> Any:
    return await database_sync_to_async(_lookup)(slug)


class TenantASGIMiddleware:
    """Puts the path's tenant in ``scope["tenant"]``; answers 404 for an unknown one.

    ``defer`` (a callable, read per request): leave ``scope["tenant"]`` None and put the slug in
    ``scope["tenant_slug"]``; the app resolves the tenant itself (the MCP consumer's warm path
    reads it in the same statement as the token) and must answer ``not_found`` the same way.
    """

    def __init__(self, inner: Any, defer: Any = None) -> None:
        self.inner = inner
        self.defer = defer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        match = TENANT_PATH_RE.match(scope.get("path", ""))
        if match and self.defer is not None and self.defer():
            return await self.inner(
                dict(scope, tenant=None, tenant_slug=match["slug"]), receive, send
            )
        try:
            tenant = await tenant_for_slug(match["slug"]) if match else None
        except (OperationalError, InterfaceError):
            logger.warning("tenant lookup failed: the database is unavailable", exc_info=True)
            await _unavailable(send)
            return None
        if tenant is None:
            await _not_found(send)
            return None
        return await self.inner(dict(scope, tenant=tenant), receive, send)


async def not_found(send: Any) -> None:
    """The 404 of an unknown or suspended tenant (JSON, the platform's error shape)."""
    await _not_found(send)


async def unavailable(send: Any) -> None:
    """The 503 of a tenant lookup the database could not answer."""
    await _unavailable(send)


async def _not_found(send: Any) -> None:
    await send_json(
        send,
        404,
        {"error": {"code": "not_found", "message": "No such tenant.", "details": {}}},
    )


async def _unavailable(send: Any) -> None:
    error = {
        "code": SERVICE_UNAVAILABLE,
        "message": "The database is unavailable; try again shortly.",
        "data": {"code": "service_unavailable"},
    }
    await send_json(
        send,
        503,
        {"jsonrpc": "2.0", "id": None, "error": error},
        headers=[(b"retry-after", RETRY_AFTER_SECONDS.encode())],
    )


async def send_json(
    send: Any, status: int, payload: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A complete JSON response on a raw ASGI ``send``."""
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
