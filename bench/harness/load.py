"""Load patterns: interleaved direct-vs-gateway latency, and fixed-duration throughput."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .client import Pool, Request, Samples, percentile, timed

WARMUP_PER_WORKER = 5


async def interleaved(
    direct: Callable[[int], Request] | None,
    gateway: Callable[[int], Request],
    *,
    calls: int,
    concurrency: int,
) -> dict[str, Any]:
    """``calls`` requests to each side, alternating which goes first, spread over workers.

    ``direct``/``gateway`` map a worker index to its request (e.g. its own end user's token).
    Returns summaries of both, and the per-percentile and per-pair differences.
    """
    per_worker = max(calls // concurrency, 1)
    direct_samples, gateway_samples = Samples(), Samples()
    pair_diffs: list[float] = []

    async def worker(index: int) -> None:
        pool = Pool()
        gw = gateway(index)
        up = direct(index) if direct else None
        try:
            for _ in range(WARMUP_PER_WORKER):
                await timed(pool, gw)
                if up:
                    await timed(pool, up)
            for i in range(per_worker):
                if up is None:
                    gateway_samples.add(*await timed(pool, gw))
                    continue
                if (i + index) % 2:
                    d = await timed(pool, up)
                    g = await timed(pool, gw)
                else:
                    g = await timed(pool, gw)
                    d = await timed(pool, up)
                direct_samples.add(*d)
                gateway_samples.add(*g)
                pair_diffs.append(g[0] - d[0])
        finally:
            await pool.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    out: dict[str, Any] = {"concurrency": concurrency, "gateway": gateway_samples.summary()}
    if direct is not None:
        d = out["direct"] = direct_samples.summary()
        g = out["gateway"]
        out["added"] = {
            key: round(g[key] - d[key], 3) for key in ("p50_ms", "p95_ms", "p99_ms", "mean_ms")
        }
        ms = [v * 1000 for v in pair_diffs]
        out["pair_diff"] = {f"p{p}_ms": round(percentile(ms, p), 3) for p in (50, 95, 99)}
    if gateway_samples.first_error is not None:
        out["first_error"] = str(gateway_samples.first_error)[:300]
    if direct_samples.first_error is not None:
        out["first_direct_error"] = str(direct_samples.first_error)[:300]
    return out


async def throughput(
    request_for: Callable[[int], Request], *, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Closed loop: ``concurrency`` workers call back to back for ``seconds``."""
    samples = Samples()
    deadline = 0.0

    async def worker(index: int) -> None:
        pool = Pool()
        request = request_for(index)
        try:
            await timed(pool, request)  # connect + warm up; not timed (but audited)
            while time.perf_counter() < deadline:
                samples.add(*await timed(pool, request))
        finally:
            await pool.close()

    # Warm-up calls are made before the clock starts; they are counted as calls for the audit
    # check by the caller (``warmup_calls``).
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    summary = samples.summary()
    return {
        "concurrency": concurrency,
        "calls": summary["n"],
        "warmup_calls": concurrency,
        "errors": summary["errors"],
        "seconds": round(elapsed, 2),
        "calls_per_s": round(summary["n"] / elapsed, 1),
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        **({"first_error": str(samples.first_error)[:300]} if samples.first_error else {}),
    }
