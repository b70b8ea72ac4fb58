"""Load patterns over several targets at once: round-robin per call, and a fixed-clock open loop.

A *target* is a name (``direct``, ``vmcp``, ``fastmcp``) and a function from a worker index to
its prepared request. The same client code measures every target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .client import Connection, HttpError, Pool, Request, Samples, parse_result, timed

Targets = dict[str, Callable[[int], Request]]
WARMUP = 5


async def round_robin(
    targets: Targets, *, calls: int, concurrency: int = 1, warmup: int = WARMUP
) -> dict[str, Samples]:
    """``calls`` requests to each target; every worker cycles through the targets per call,
    rotating which goes first, so that drift in the machine's load hits all of them alike."""
    names = list(targets)
    samples = {name: Samples() for name in names}
    per_worker = max(calls // concurrency, 1)

    async def worker(index: int) -> None:
        pool = Pool()
        requests = [targets[name](index) for name in names]
        try:
            for _ in range(warmup):
                for request in requests:
                    await timed(pool, request)
            for i in range(per_worker):
                shift = (i + index) % len(names)
                for k in range(len(names)):
                    j = (shift + k) % len(names)
                    samples[names[j]].add(*await timed(pool, requests[j]))
        finally:
            await pool.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return samples


async def open_loop(
    request: Request,
    samples: Samples,
    *,
    rate: float,
    seconds: float,
    timeout: float = 10.0,
    max_in_flight: int = 64,
) -> dict[str, Any]:
    """Send ``rate`` requests a second on a fixed clock for ``seconds``, whatever the answers do.

    Latency is measured from each request's *scheduled* send time, so a server that falls
    behind is charged for the queue it causes (no coordinated omission). A request waits for a
    free keep-alive connection or opens one; one not answered within ``timeout`` counts as an
    error with latency ``timeout``. ``achieved_per_s`` is completions per second of the window
    from the first scheduled send to the last completion. When ``max_in_flight`` requests are
    already waiting, a due request is not sent and counts as an error with latency ``timeout``
    (a server that cannot keep up must not be buried under a backlog that would still be
    running during the next phase). Latencies go into ``samples`` (so
    that batches of one target can be pooled); the return value describes this batch.
    """
    idle: list[Connection] = []
    before_n, before_errors = len(samples.values), samples.errors
    total = int(rate * seconds)
    max_lag = 0.0
    last_done = 0.0
    in_flight = 0
    not_sent = 0

    async def one(scheduled: float) -> None:
        nonlocal last_done, in_flight
        in_flight += 1
        try:
            await send(scheduled)
        finally:
            in_flight -= 1

    async def send(scheduled: float) -> None:
        nonlocal last_done
        conn = idle.pop() if idle else Connection(request.url)
        try:
            status, data = await asyncio.wait_for(conn.post(request.headers, request.body), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
            await conn.close()
            samples.add(max(time.perf_counter() - scheduled, timeout), False, repr(exc))
            return
        done = time.perf_counter()
        last_done = max(last_done, done)
        ok, result = parse_result(status, data)
        samples.add(done - scheduled, ok, result)
        idle.append(conn)

    # Warm connections first (not measured), as a steady client would have them.
    warm = [Connection(request.url) for _ in range(8)]
    for conn in warm:
        await conn.post(request.headers, request.body)
    idle.extend(warm)

    tasks = []
    start = time.perf_counter() + 0.02
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            max_lag = max(max_lag, -delay)
        if in_flight >= max_in_flight:
            not_sent += 1
            samples.add(timeout, False, f"not sent: {max_in_flight} requests already waiting")
            continue
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    for conn in idle:
        await conn.close()
    window = max(last_done - start, seconds)
    completed = (len(samples.values) - before_n) - (samples.errors - before_errors)
    return {
        "due": total,
        "not_sent": not_sent,
        "completed": completed,
        "window_s": round(window, 2),
        "max_send_lag_ms": round(max_lag * 1000, 2),
    }
