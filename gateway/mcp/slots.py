"""Counted slots in Redis: live sessions and open streams, bounded per token and per tenant.

Each kind of slot is two sorted sets, one for the token and one for the tenant, whose members
are slot ids scored by their expiry (Redis ``TIME``, milliseconds, so "least recently used"
is exact enough to evict by). Acquiring is one Lua script, so
N+k simultaneous acquisitions against a bound of N let exactly N in whichever process they hit;
expired members are dropped before counting, so a process that crashed while holding slots
gives them back when their lease runs out instead of leaking them forever. A holder renews its
slot (``slot_renew``) while it is alive and releases it when done.

Keys: ``vmcp:mcp:slots:{<schema>}:<kind>:token:<token_id>`` and ``…:{<schema>}:<kind>:tenant``.
The acquire script may also write the session record (``KEYS[3]``) in the same atomic step, so a
refused ``initialize`` stores nothing, and delete the records of evicted sessions. vmcp uses one
Redis (not Cluster): the session record key has no hash tag in common with the sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from vmcp_platform.errors import RateLimited, ServiceUnavailable

SESSIONS = "sessions"
STREAMS = "streams"
# A refused client is told to come back within this, even when the oldest slot lasts longer:
# other holders may leave sooner (DELETE, a closed stream).
MAX_RETRY_AFTER_SECONDS = 60

# KEYS[1] token set, KEYS[2] tenant set, KEYS[3] (optional) record to SET with the slot.
# ARGV: member, lease (s), token bound, tenant bound, evict ('1': make room in the token's set by
# evicting its least recently renewed members), prefix of evicted members' records, record value.
# Returns {1, evicted...} or {0, which bound (1 token, 2 tenant), seconds until a slot frees}.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local lease = tonumber(ARGV[2])
local token_bound = tonumber(ARGV[3])
local tenant_bound = tonumber(ARGV[4])
local excess = redis.call('ZCARD', KEYS[1]) - token_bound + 1
if excess < 0 then excess = 0 end
local function wait_for(key)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #oldest == 0 then return 1 end
  return math.ceil((tonumber(oldest[2]) - now) / 1000)
end
if token_bound <= 0 or (excess > 0 and ARGV[5] ~= '1') then
  return {0, 1, wait_for(KEYS[1])}
end
if tenant_bound <= 0 or redis.call('ZCARD', KEYS[2]) - excess >= tenant_bound then
  return {0, 2, wait_for(KEYS[2])}
end
local result = {1}
if excess > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], excess)
  for i = 1, #popped, 2 do
    redis.call('ZREM', KEYS[2], popped[i])
    if ARGV[6] ~= '' then redis.call('DEL', ARGV[6] .. popped[i]) end
    result[#result + 1] = popped[i]
  end
end
local expiry = now + lease * 1000
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], expiry, ARGV[1])
  redis.call('EXPIRE', KEYS[i], lease + 1)
end
if #KEYS > 2 then
  redis.call('SET', KEYS[3], ARGV[7], 'EX', lease)
end
return result
"""

# KEYS: token set, tenant set. ARGV: member, lease. Pushes the member's expiry out (only if it
# still holds a slot: an evicted or released member does not come back).
_RENEW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + tonumber(ARGV[2]) * 1000
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', expiry, ARGV[1])
for i = 1, 2 do
  if redis.call('TTL', KEYS[i]) < tonumber(ARGV[2]) + 1 then
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2]) + 1)
  end
end
return 1
"""


@dataclass(frozen=True)
class SlotKeys:
    token: str
    tenant: str


def slot_keys(kind: str, *, tenant_schema: str, token_id: str) -> SlotKeys:
    base = f"vmcp:mcp:slots:{{{tenant_schema}}}:{kind}"
    return SlotKeys(token=f"{base}:token:{token_id}", tenant=f"{base}:tenant")


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "MCP session storage is unavailable; try again shortly.", details={"dependency": "redis"}
    )


async def slot_acquire(
    client: aioredis.Redis,
    keys: SlotKeys,
    *,
    member: str,
    lease_seconds: int,
    token_bound: int,
    tenant_bound: int,
    what: str,
    evict: bool = False,
    record: tuple[str, str] | None = None,
    evicted_prefix: str = "",
) -> list[str]:
    """Take a slot (and write ``record`` with it); the evicted members, or ``RateLimited``."""
    script_keys = [keys.token, keys.tenant] + ([record[0]] if record else [])
    args = [
        member,
        max(int(lease_seconds), 1),
        int(token_bound),
        int(tenant_bound),
        "1" if evict else "0",
        evicted_prefix,
        record[1] if record else "",
    ]
    try:
        reply = await client.eval(_ACQUIRE_LUA, len(script_keys), *script_keys, *args)
    except RedisError as exc:
        raise _unavailable() from exc
    if int(reply[0]) == 1:
        return [m.decode() if isinstance(m, bytes) else str(m) for m in reply[1:]]
    scope = "token" if int(reply[1]) == 1 else "tenant"
    retry = min(max(int(reply[2]), 1), MAX_RETRY_AFTER_SECONDS)
    bound = token_bound if scope == "token" else tenant_bound
    raise RateLimited(
        f"Too many {what} for this {scope} (at most {bound}); close one or retry later.",
        retry_after=float(retry),
        details={"scope": scope, "limit": bound},
    )


async def slot_renew(
    client: aioredis.Redis, keys: SlotKeys, *, member: str, lease_seconds: int
) -> bool:
    """Extend a held slot's lease; False when it is no longer held."""
    try:
        held = await client.eval(
            _RENEW_LUA, 2, keys.token, keys.tenant, member, max(int(lease_seconds), 1)
        )
    except RedisError as exc:
        raise _unavailable() from exc
    return bool(int(held))


async def slot_release(client: aioredis.Redis, keys: SlotKeys, *, member: str) -> None:
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.token, member)
            pipe.zrem(keys.tenant, member)
            await pipe.execute()
    except RedisError as exc:
        raise _unavailable() from exc
