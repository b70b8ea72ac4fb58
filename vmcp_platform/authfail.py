"""Failed bearer authentications, counted per source address in Redis (MCP endpoint, REST API).

After ``VMCP_AUTH_FAILURES_PER_WINDOW`` failures within ``VMCP_AUTH_FAILURE_WINDOW_SECONDS``
(a fixed window opened by the source's first failure), every further request from that source
is refused with 429 before its token is even looked at: no database work, no audit row, for
as long as the window lasts. The two surfaces count apart (``surface``), so an agent looping on
an expired session token does not lock its own backend out of the REST API.

The source is the peer address (ASGI ``client``, WSGI ``REMOTE_ADDR``); ``X-Forwarded-For`` is
read only when ``VMCP_TRUSTED_PROXY_COUNT`` says how many proxies in front of vmcp append to it,
and then the address those proxies saw is taken (counting from the right), never one the client
wrote. IPv6 sources count per /64, the block one subscriber usually holds.

Redis unavailable: counted nothing, refused nothing (fail open). Tokens are 256-bit secrets, so
this is about load and audit noise, not guessing; refusing every request while Redis is down
would turn a Redis outage into a full API outage.
"""

from __future__ import annotations

import ipaddress
import logging
import threading

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

MCP = "mcp"
API = "api"
_TIMEOUT_SECONDS = 2.0

# KEYS[1]: the source's counter. ARGV[1]: window (s). Returns {count, seconds left}.
_COUNT_LUA = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


def source_address(peer: str | None, forwarded_for: str | None) -> str:
    """The address the request came from, as this deployment can trust it."""
    address = peer or ""
    hops = int(getattr(settings, "VMCP_TRUSTED_PROXY_COUNT", 0))
    if hops > 0 and forwarded_for:
        chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        # Each trusted proxy appended the address it saw; the last one is the peer itself.
        if len(chain) >= hops:
            address = chain[-hops]
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return (address or "unknown")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def counter_key(surface: str, source: str) -> str:
    return f"vmcp:authfail:{surface}:{source}"


def limit() -> int:
    return int(settings.VMCP_AUTH_FAILURES_PER_WINDOW)


def window_seconds() -> int:
    return max(int(settings.VMCP_AUTH_FAILURE_WINDOW_SECONDS), 1)


_sync_lock = threading.Lock()
_sync_clients: dict[str, redis.Redis] = {}
_async_clients: dict[tuple[int, str], aioredis.Redis] = {}


def sync_client() -> redis.Redis:
    url = settings.REDIS_URL
    with _sync_lock:
        client = _sync_clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url, socket_timeout=_TIMEOUT_SECONDS, socket_connect_timeout=_TIMEOUT_SECONDS
            )
            _sync_clients[url] = client
    return client


def _async_client() -> aioredis.Redis:
    import asyncio

    key = (id(asyncio.get_running_loop()), settings.REDIS_URL)
    client = _async_clients.get(key)
    if client is None:
        client = aioredis.Redis.from_url(
            key[1], socket_timeout=_TIMEOUT_SECONDS, socket_connect_timeout=_TIMEOUT_SECONDS
        )
        _async_clients[key] = client
    return client


def _blocked(count: bytes | None, ttl: int) -> int | None:
    if count is None or int(count) < limit():
        return None
    return max(int(ttl), 1)


def blocked_for(surface: str, source: str) -> int | None:
    """Seconds this source stays refused, or None when it may try."""
    try:
        with sync_client().pipeline(transaction=False) as pipe:
            pipe.get(counter_key(surface, source))
            pipe.ttl(counter_key(surface, source))
            count, ttl = pipe.execute()
    except RedisError:
        logger.warning("auth-failure counter unavailable; not throttling")
        return None
    return _blocked(count, ttl)


async def blocked_for_async(surface: str, source: str) -> int | None:
    try:
        async with _async_client().pipeline(transaction=False) as pipe:
            pipe.get(counter_key(surface, source))
            pipe.ttl(counter_key(surface, source))
            count, ttl = await pipe.execute()
    except (RedisError, OSError):
        logger.warning("auth-failure counter unavailable; not throttling")
        return None
    return _blocked(count, ttl)


def window_count(key: str) -> int | None:
    """Add one to a counter that lives one window from its first count (None: Redis down)."""
    try:
        count, _ttl = sync_client().eval(_COUNT_LUA, 1, key, window_seconds())
    except RedisError:
        logger.warning("auth-failure counter unavailable; failure not counted")
        return None
    return int(count)


def failure_count(surface: str, source: str) -> int | None:
    """Count one failure; the source's failures in the current window (None: Redis down)."""
    return window_count(counter_key(surface, source))
