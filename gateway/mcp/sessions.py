"""Legacy (2025-11-25) MCP sessions, kept in Redis so any web process serves any session.

A session is bound to the tenant, the config and the end-user identifier of the token that
opened it; it expires after ``VMCP_MCP_SESSION_TTL_SECONDS`` without use (each use refreshes
it). Nothing secret is stored: the bearer token is checked on every request anyway.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

from vmcp_platform.errors import ServiceUnavailable

_KEY_PREFIX = "vmcp:mcp:session:"


@dataclass
class McpSession:
    id: str
    tenant_schema: str
    config_id: str
    identifier: str
    protocol_version: str
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    log_level: str | None = None

    def belongs_to(self, *, tenant_schema: str, config_id: str, identifier: str) -> bool:
        return (self.tenant_schema, self.config_id, self.identifier) == (
            tenant_schema,
            config_id,
            identifier,
        )


_clients: dict[int, aioredis.Redis] = {}


def _redis() -> aioredis.Redis:
    # One client (connection pool) per event loop: daphne runs one loop, tests may run several.
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5
        )
        _clients[loop_id] = client
    return client


def _ttl() -> int:
    return max(int(settings.VMCP_MCP_SESSION_TTL_SECONDS), 1)


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("MCP session storage is unavailable; try again shortly.")


async def session_create(
    *,
    tenant_schema: str,
    config_id: str,
    identifier: str,
    protocol_version: str,
    client_capabilities: dict[str, Any],
    client_info: dict[str, Any],
) -> McpSession:
    session = McpSession(
        id=secrets.token_urlsafe(32),
        tenant_schema=tenant_schema,
        config_id=config_id,
        identifier=identifier,
        protocol_version=protocol_version,
        client_capabilities=client_capabilities,
        client_info=client_info,
    )
    await _save(session)
    return session


async def _save(session: McpSession) -> None:
    try:
        await _redis().set(_KEY_PREFIX + session.id, json.dumps(asdict(session)), ex=_ttl())
    except RedisError as exc:
        raise _unavailable() from exc


async def session_get(session_id: str) -> McpSession | None:
    """The live session for this id (its inactivity timer restarted), or None."""
    if not session_id or len(session_id) > 128:
        return None
    key = _KEY_PREFIX + session_id
    try:
        async with _redis().pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.expire(key, _ttl())
            raw, _ = await pipe.execute()
    except RedisError as exc:
        raise _unavailable() from exc
    if raw is None:
        return None
    try:
        return McpSession(**json.loads(raw))
    except (TypeError, ValueError):
        return None


async def session_update(session: McpSession) -> None:
    await _save(session)


async def session_delete(session_id: str) -> bool:
    try:
        return bool(await _redis().delete(_KEY_PREFIX + session_id))
    except RedisError as exc:
        raise _unavailable() from exc
