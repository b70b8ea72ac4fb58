"""Tool-call rate limits: GCRA, in one Redis script call per request, for up to four keys:
per tenant, per end user across the tenant, per (virtual server, end user), and per (virtual
server, tool, end user) where the server's mapping sets a limit for that tool.

Why GCRA: it keeps one number per key (the "theoretical arrival time"), needs no sweeping, and
is exact under concurrency because the whole check-and-consume runs as one Lua script — Redis
executes scripts atomically, so N+k simultaneous calls against a limit of N let exactly N through,
whichever web process they arrive on.

Burst choice: the burst tolerance equals the limit, i.e. a caller that has been idle may use a
full minute's allowance at once (an agent often fires a handful of calls back to back); after
that, calls are admitted at the steady rate of one per ``60 / limit`` seconds. The per-minute
number therefore reads as "at most N calls in any burst, N per minute sustained".

Every limit of a call is checked in the same script call: the call is denied if any key would
exceed, and a key is consumed only when all allow (a call refused by the tenant limit does not
eat the user's allowance, and vice versa). The script reads the clock with Redis ``TIME`` so
that every web process agrees on "now".

Keys: ``rl:{<schema>}:tenant``, ``rl:{<schema>}:user:<h>`` (the end user across every server
and ``execute_tool``), ``rl:{<schema>}:cfg:<config_id>:<h>`` and
``rl:{<schema>}:tool:<config_id>:<tool>:<h>``, where ``<h>`` is ``sha256(identifier)[:24]``.
The braces are a Redis Cluster hash tag: every key of a tenant lives in the same slot, which a
multi-key script requires. The identifier is hashed so end-user e-mail addresses don't sit in
Redis key names.

Fail closed: if Redis is unreachable or slow, the call is refused with ``ServiceUnavailable``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from vmcp_platform.errors import RateLimited, ServiceUnavailable
from vmcp_platform.observability import metrics

logger = logging.getLogger(__name__)

# Bounded timeouts: a rate-limit check must never make a tool call hang, yet a busy machine
# (a burst of calls on two cores) must not turn legitimate calls into 503s. A Redis that is
# down refuses the connection at once; only a hung one waits this long.
SOCKET_TIMEOUT_SECONDS = 2.0
MICROS_PER_MINUTE = 60_000_000
MAX_CONNECTIONS = 50
POOL_WAIT_SECONDS = 2.0

# KEYS: the limited keys. ARGV: for each key, its emission interval and burst tolerance (µs).
# Returns {1, 0, 0} when allowed (all keys consumed) or {0, retry_after_us, index_of_key} when
# denied (nothing consumed). Values are stored as integers via %d: Lua numbers are doubles and
# tostring() would round a µs timestamp to 14 significant digits.
_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new_tats = {}
local retry = 0
local denied = 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local wait = new_tat - tolerance - now
  if wait > 0 then
    if wait > retry then
      retry = wait
      denied = i
    end
  end
  new_tats[i] = new_tat
end
if denied > 0 then
  return {0, retry, denied}
end
for i = 1, #KEYS do
  local ttl_ms = math.ceil((new_tats[i] - now) / 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%d', new_tats[i]), 'PX', ttl_ms)
end
return {1, 0, 0}
"""


@dataclass(frozen=True)
class Limit:
    key: str
    per_minute: int
    # "tenant", "end_user", "user", "tool" or "token": named in the error (details.scope) so
    # the caller knows which one.
    scope: str
    what: str = "tool-call"
    tool: str = ""  # the limited tool, for scope "tool"


# One client (and so one connection pool) per event loop and URL: asyncio connections belong to
# the loop that opened them. A web process has one loop, so this is one pool per process; code
# that runs each call in a fresh loop (async_to_sync in tests or Celery) gets a fresh pool that
# is dropped with its loop.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncScript]] = (
    weakref.WeakKeyDictionary()
)


def _script() -> AsyncScript:
    """The GCRA script bound to this loop's client (EVALSHA, loading the script when needed)."""
    loop = asyncio.get_running_loop()
    url = settings.REDIS_URL
    per_loop = _clients.setdefault(loop, {})
    script = per_loop.get(url)
    if script is None:
        # Blocking pool: a burst larger than the pool waits briefly for a connection instead
        # of failing (a plain pool raises MaxConnectionsError, which would turn a burst of
        # legitimate calls into 503s).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_WAIT_SECONDS,
        )
        script = aioredis.Redis(connection_pool=pool).register_script(_GCRA_LUA)
        per_loop[url] = script
    return script


def reset_pool() -> None:
    """Forget every pooled client (tests that point ``REDIS_URL`` somewhere else)."""
    _clients.clear()


def identifier_hash(identifier: str) -> str:
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:24]


def tenant_key(schema: str) -> str:
    return f"rl:{{{schema}}}:tenant"


def user_key(schema: str, config_id: object, identifier: str) -> str:
    return f"rl:{{{schema}}}:cfg:{config_id}:{identifier_hash(identifier)}"


def end_user_key(schema: str, identifier: str) -> str:
    return f"rl:{{{schema}}}:user:{identifier_hash(identifier)}"


def tool_key(schema: str, config_id: object, tool_name: str, identifier: str) -> str:
    return f"rl:{{{schema}}}:tool:{config_id}:{tool_name}:{identifier_hash(identifier)}"


def limits_for(
    *,
    schema: str,
    tenant_limit: int,
    user_limit: int,
    config_id: object | None,
    config_limit: int | None,
    identifier: str,
    end_user_limit: int | None = None,
    tool_name: str | None = None,
    tool_limit: int | None = None,
) -> list[Limit]:
    """The limits of one call: the tenant's; the end user's across the tenant (when given);
    with a config, (config, identifier) and, if the mapping limits this tool, (config, tool,
    identifier). A backend ``execute_tool`` without a config gets the first two only."""
    limits = [Limit(tenant_key(schema), tenant_limit, "tenant")]
    if end_user_limit is not None:
        limits.append(Limit(end_user_key(schema, identifier), end_user_limit, "end_user"))
    if config_id is not None:
        per_user = config_limit if config_limit is not None else user_limit
        limits.append(Limit(user_key(schema, config_id, identifier), per_user, "user"))
        if tool_limit is not None and tool_name:
            key = tool_key(schema, config_id, tool_name, identifier)
            limits.append(Limit(key, tool_limit, "tool", tool=tool_name))
    return limits


def handshake_limits(*, schema: str, token_id: str) -> list[Limit]:
    """``initialize`` and ``server/discover``: per tenant and per token, apart from tool calls.

    A handshake costs the server a session record or a discovery document, so a token that
    loops on it is limited like one that loops on tools/call, without eating tool-call budget.
    """
    return [
        Limit(
            f"rl:{{{schema}}}:hs:tenant",
            int(settings.VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TENANT),
            "tenant",
            "handshake",
        ),
        Limit(
            f"rl:{{{schema}}}:hs:token:{token_id}",
            int(settings.VMCP_MCP_HANDSHAKES_PER_MINUTE_PER_TOKEN),
            "token",
            "handshake",
        ),
    ]


async def rate_limit_consume(limits: list[Limit]) -> None:
    """Take one call from every limit, or none; raise ``RateLimited`` / ``ServiceUnavailable``."""
    for limit in limits:
        # A limit of 0 means "no calls": refuse without consuming anything.
        if limit.per_minute <= 0:
            metrics.count_rate_limited(limit.scope, limit.what)
            raise RateLimited(_message(limit), retry_after=60.0, details=_details(limit))
    args: list[int] = []
    for limit in limits:
        interval = MICROS_PER_MINUTE // limit.per_minute
        args += [interval, interval * limit.per_minute]
    try:
        allowed, retry_us, index = await _script()(keys=[limit.key for limit in limits], args=args)
    except (TimeoutError, RedisError, OSError) as exc:
        # Never proceed unchecked: no Redis, no tool call.
        logger.warning("rate limiter unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable(
            "Rate limiting is temporarily unavailable, so the call was refused. Try again shortly.",
            details={"dependency": "redis"},
        ) from exc
    if int(allowed) == 1:
        return
    limit = limits[int(index) - 1]
    metrics.count_rate_limited(limit.scope, limit.what)
    raise RateLimited(
        _message(limit), retry_after=int(retry_us) / 1_000_000, details=_details(limit)
    )


def _details(limit: Limit) -> dict[str, str]:
    return {"scope": limit.scope, **({"tool": limit.tool} if limit.tool else {})}


def _message(limit: Limit) -> str:
    if limit.what != "tool-call":
        return f"The {limit.scope}'s {limit.what} rate limit was reached; retry later."
    if limit.scope == "tenant":
        return "The tenant's tool-call rate limit was reached; retry later."
    if limit.scope == "end_user":
        return "This user's tool-call rate limit across the tenant was reached; retry later."
    if limit.scope == "tool":
        return f"This user's rate limit for {limit.tool} on this server was reached; retry later."
    return "This user's tool-call rate limit on this server was reached; retry later."
