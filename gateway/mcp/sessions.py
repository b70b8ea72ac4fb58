"""Legacy (2025-11-25) MCP sessions, kept in Redis so any web process serves any session.

A session is bound to the tenant, the config and the end-user identifier of the token that
opened it; it expires after ``VMCP_MCP_SESSION_TTL_SECONDS`` without use (each use refreshes
it). Nothing secret is stored: the bearer token is checked on every request anyway.

Bounded, because Redis is shared by every tenant: a session keeps only what later requests use
(the client's capability *flags* and clientInfo name/version/title, truncated), an
``initialize`` whose client metadata is larger than ``VMCP_MCP_CLIENT_METADATA_MAX_BYTES`` is
refused before anything is stored, and the number of live sessions is bounded per token and per
tenant (``slots``). Beyond the token's bound its least recently used session is evicted rather
than the new one refused: clients that never send DELETE (most of them) would otherwise lock
their token out for the session TTL, and only the token's own sessions can go, so no other
user loses anything. Beyond the tenant's bound a new ``initialize`` is refused: evicting there
would let one token's flood end other users' sessions.
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

from vmcp_platform.errors import ServiceUnavailable, ValidationFailed
from vmcp_platform.sanitize import wire_text

from . import slots

_KEY_PREFIX = "vmcp:mcp:session:"
# What is kept of the client's metadata: capability names and their flags, a few levels deep.
_MAX_FLAG_KEYS = 64
_MAX_FLAG_DEPTH = 3
_MAX_NAME_CHARS = 64
_CLIENT_INFO_FIELDS = ("name", "version", "title")
_MAX_INFO_CHARS = 128


@dataclass
class McpSession:
    id: str
    tenant_schema: str
    config_id: str
    identifier: str
    token_id: str
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


def redis_client() -> aioredis.Redis:
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


def _clean(text: str, limit: int) -> str:
    return wire_text(text, max_len=limit)


def _flags(value: Any, budget: list[int], depth: int = 0) -> Any:
    """Capability names and boolean flags only; every other value becomes ``{}`` (present)."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, dict) or depth >= _MAX_FLAG_DEPTH:
        return {}
    kept: dict[str, Any] = {}
    for key, inner in value.items():
        if budget[0] <= 0:
            break
        if not isinstance(key, str) or not key or len(key) > _MAX_NAME_CHARS or "\x00" in key:
            continue  # a cut-down name would name another capability: drop it whole
        budget[0] -= 1
        kept[key] = _flags(inner, budget, depth + 1)
    return kept


def client_metadata_bound(capabilities: Any, client_info: Any) -> tuple[dict, dict]:
    """What a session stores of ``initialize``'s capabilities and clientInfo, or refuse.

    Raises ``ValidationFailed`` when the two serialize to more than the configured bound.
    """
    limit = int(settings.VMCP_MCP_CLIENT_METADATA_MAX_BYTES)
    try:
        size = len(json.dumps([capabilities, client_info], separators=(",", ":")))
    except (TypeError, ValueError, RecursionError):
        size = limit + 1
    if size > limit:
        raise ValidationFailed(
            f"Invalid params: capabilities and clientInfo take {size} bytes; at most {limit} "
            "are accepted",
            details={"limit_bytes": limit},
        )
    caps = _flags(capabilities, [_MAX_FLAG_KEYS]) if isinstance(capabilities, dict) else {}
    info = client_info if isinstance(client_info, dict) else {}
    kept_info = {
        name: _clean(info[name], _MAX_INFO_CHARS)
        for name in _CLIENT_INFO_FIELDS
        if isinstance(info.get(name), str)
    }
    return caps, kept_info


def _slot_keys(tenant_schema: str, token_id: str) -> slots.SlotKeys:
    return slots.slot_keys(slots.SESSIONS, tenant_schema=tenant_schema, token_id=token_id)


async def session_create(
    *,
    tenant_schema: str,
    config_id: str,
    identifier: str,
    token_id: str,
    protocol_version: str,
    client_capabilities: Any,
    client_info: Any,
) -> McpSession:
    """A new session, counted against the token's and the tenant's bounds.

    ``ValidationFailed`` for oversize client metadata, ``RateLimited`` when the tenant is at
    its bound; in both cases nothing is stored.
    """
    capabilities, info = client_metadata_bound(client_capabilities, client_info)
    session = McpSession(
        id=secrets.token_urlsafe(32),
        tenant_schema=tenant_schema,
        config_id=config_id,
        identifier=identifier,
        token_id=token_id,
        protocol_version=protocol_version,
        client_capabilities=capabilities,
        client_info=info,
    )
    await slots.slot_acquire(
        redis_client(),
        _slot_keys(tenant_schema, token_id),
        member=session.id,
        lease_seconds=_ttl(),
        token_bound=int(settings.VMCP_MCP_SESSIONS_PER_TOKEN),
        tenant_bound=int(settings.VMCP_MCP_SESSIONS_PER_TENANT),
        what="live MCP sessions",
        evict=True,
        record=(_KEY_PREFIX + session.id, json.dumps(asdict(session))),
        evicted_prefix=_KEY_PREFIX,
    )
    return session


async def session_get(session_id: str) -> McpSession | None:
    """The live session for this id (its inactivity timer restarted), or None."""
    if not session_id or len(session_id) > 128:
        return None
    key = _KEY_PREFIX + session_id
    try:
        async with redis_client().pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.expire(key, _ttl())
            raw, _ = await pipe.execute()
    except RedisError as exc:
        raise _unavailable() from exc
    if raw is None:
        return None
    try:
        session = McpSession(**json.loads(raw))
    except (TypeError, ValueError):
        return None
    keys = _slot_keys(session.tenant_schema, session.token_id)
    if not await slots.slot_renew(redis_client(), keys, member=session.id, lease_seconds=_ttl()):
        # A record that no longer holds a slot (evicted mid-request) is not a live session.
        await session_delete(session)
        return None
    return session


async def session_update(session: McpSession) -> None:
    """Save a changed session (its log level); the record keeps its slot."""
    try:
        await redis_client().set(
            _KEY_PREFIX + session.id, json.dumps(asdict(session)), ex=_ttl(), xx=True
        )
    except RedisError as exc:
        raise _unavailable() from exc


async def session_delete(session: McpSession) -> bool:
    keys = _slot_keys(session.tenant_schema, session.token_id)
    try:
        async with redis_client().pipeline(transaction=True) as pipe:
            pipe.delete(_KEY_PREFIX + session.id)
            pipe.zrem(keys.token, session.id)
            pipe.zrem(keys.tenant, session.id)
            deleted, _, _ = await pipe.execute()
    except RedisError as exc:
        raise _unavailable() from exc
    return bool(deleted)
