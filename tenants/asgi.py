"""Tenant resolution for ASGI apps that are not Django views (the MCP consumer).

``/t/<slug>/…`` → ``scope["tenant"]`` (a ``Tenant``), looked up in the public schema from a
sync function; an unknown or suspended tenant is a 404 with the platform's JSON error shape.
The lookup is one indexed query and is not cached: a cached row outlives a suspension or a
tenant re-created under the same slug (new primary key, new schema), and every request makes
a token query right after anyway. The schema is never *selected* here: code that needs the
tenant's tables opens ``tenant_context(scope["tenant"])`` in its own sync function.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from django.db import connection

from .middleware import TENANT_PATH_RE
from .selectors import tenant_get_by_slug


def _lookup(slug: str) -> Any:
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
        tenant = await tenant_for_slug(match["slug"]) if match else None
        if tenant is None:
            await _not_found(send)
            return None
        return await self.inner(dict(scope, tenant=tenant), receive, send)


async def not_found(send: Any) -> None:
    """The 404 of an unknown or suspended tenant (JSON, the platform's error shape)."""
    await _not_found(send)


async def _not_found(send: Any) -> None:
    body = json.dumps(
        {"error": {"code": "not_found", "message": "No such tenant.", "details": {}}}
    ).encode()
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
