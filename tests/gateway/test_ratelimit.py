"""GCRA in Redis: exact under concurrency, both limits or neither, refill, fail closed."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from django.conf import settings

from gateway import ratelimit
from gateway.ratelimit import Limit, limits_for, rate_limit_consume
from tests.gateway.test_execution_support import _clean_rate_limits  # noqa: F401
from vmcp_platform.errors import RateLimited, ServiceUnavailable


async def _burst(limits: list[Limit], n: int) -> list[BaseException | None]:
    return await asyncio.gather(
        *[rate_limit_consume(limits) for _ in range(n)], return_exceptions=True
    )


async def test_a_burst_of_n_plus_k_concurrent_calls_lets_exactly_n_through():
    limits = [Limit("rl:{t_test}:tenant", 20, "tenant")]
    outcomes = await _burst(limits, 27)
    assert outcomes.count(None) == 20
    refused = [o for o in outcomes if o is not None]
    assert len(refused) == 7
    assert all(isinstance(o, RateLimited) for o in refused)
    # The next call is admitted one emission interval (60s / 20 = 3s) after the burst.
    assert all(0 < o.retry_after <= 3.0 for o in refused)


async def test_burst_across_separate_connections_is_exact_too():
    # Separate pools (as separate web processes would have) race on the same key.
    limits = [Limit("rl:{t_test}:tenant", 10, "tenant")]

    async def one_process() -> list[BaseException | None]:
        ratelimit.reset_pool()
        return await _burst(limits, 5)

    results = [
        r for batch in await asyncio.gather(*[one_process() for _ in range(3)]) for r in batch
    ]
    assert results.count(None) == 10


async def test_a_call_denied_by_one_limit_consumes_neither():
    tenant = Limit("rl:{t_test}:tenant", 100, "tenant")
    user = Limit("rl:{t_test}:cfg:c1:alice", 2, "user")
    await rate_limit_consume([tenant, user])
    await rate_limit_consume([tenant, user])
    for _ in range(5):
        with pytest.raises(RateLimited) as caught:
            await rate_limit_consume([tenant, user])
        assert caught.value.details["scope"] == "user"
    # Only the two admitted calls were taken from the tenant: 98 remain in the burst.
    assert (await _burst([tenant], 99)).count(None) == 98


async def test_allowance_refills_at_the_steady_rate():
    limits = [Limit("rl:{t_test}:tenant", 60, "tenant")]  # one call per second
    assert (await _burst(limits, 61)).count(None) == 60
    with pytest.raises(RateLimited) as caught:
        await rate_limit_consume(limits)
    time.sleep(caught.value.retry_after + 0.05)
    await rate_limit_consume(limits)


async def test_zero_limit_refuses_everything():
    with pytest.raises(RateLimited):
        await rate_limit_consume([Limit("rl:{t_test}:tenant", 0, "tenant")])


def test_keys_share_the_tenant_hash_tag_and_hide_the_identifier():
    limits = limits_for(
        schema="t_acme",
        tenant_limit=5,
        user_limit=3,
        config_id="cfg-1",
        config_limit=None,
        identifier="alice@example.com",
    )
    assert limits[0] == Limit("rl:{t_acme}:tenant", 5, "tenant")
    assert limits[1].key.startswith("rl:{t_acme}:cfg:cfg-1:")
    assert "alice" not in limits[1].key
    assert limits[1].per_minute == 3
    with_override = limits_for(
        schema="t_acme", tenant_limit=5, user_limit=3, config_id="c", config_limit=9, identifier="a"
    )
    assert with_override[1].per_minute == 9
    assert (
        len(
            limits_for(
                schema="t_acme",
                tenant_limit=5,
                user_limit=3,
                config_id=None,
                config_limit=None,
                identifier="a",
            )
        )
        == 1
    )


async def test_keys_expire_once_the_allowance_is_back():
    await rate_limit_consume([Limit("rl:{t_test}:tenant", 60, "tenant")])
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        ttl = client.pttl("rl:{t_test}:tenant")
    finally:
        client.close()
    assert 0 < ttl <= 2000


async def test_unreachable_redis_refuses(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    ratelimit.reset_pool()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        await rate_limit_consume([Limit("rl:{t_test}:tenant", 10, "tenant")])
    assert caught.value.details == {"dependency": "redis"}
    assert time.monotonic() - started < 2


async def test_unix_socket_urls_are_supported(settings, tmp_path):
    # A socket nobody listens on: the URL is accepted and the call fails closed.
    settings.REDIS_URL = f"unix://{tmp_path}/redis.sock"
    ratelimit.reset_pool()
    with pytest.raises(ServiceUnavailable):
        await rate_limit_consume([Limit("rl:{t_test}:tenant", 10, "tenant")])
