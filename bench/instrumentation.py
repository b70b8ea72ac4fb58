"""What the observability instrumentation costs a tools/call when tracing is off.

Speed is measured here, not asserted in the suite: ``python bench/instrumentation.py`` runs
everything one call's instrumentation does (five span wrappers, the request record, the
tool-call histogram, one request count) against the same awaits without it, and prints the
difference per call. Issue 18's budget: < 5 % of a tools/call.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.test")

import django  # noqa: E402

django.setup()

from vmcp_platform.observability import calls, metrics, request, tracing  # noqa: E402


class _Record:
    provider_seconds = 0.0


async def _nothing() -> None:
    return None


def main() -> None:
    """Everything one tools/call runs when tracing is off, against a 10 ms call (demo_echo
    through vmcp, bench/RESULTS.md); the budget is 5 % = 500 µs, the bound asserted 100 µs."""
    assert tracing.ENABLED is False
    record = _Record()

    async def one_call_worth() -> None:
        # 5 spans' wrappers, the request record, the tool-call histogram, one request count.
        await tracing.traced(tracing.AUTHORIZE, _nothing())
        await tracing.traced(tracing.RATE_LIMIT, _nothing())
        await tracing.traced(tracing.CREDENTIAL, _nothing())
        await calls.provider_call(record, "demo", _nothing())
        await tracing.traced(tracing.AUDIT, _nothing())
        request.note_tenant("acme")
        request.note_request(method="tools/call")
        request.note_wire(True)
        request.note_execution("8d0f6c1e-0000-4000-8000-000000000001")
        tracing.inject_upstream(None)
        metrics.observe_tool_call(connector="demo", started=time.monotonic(), provider_seconds=0)
        metrics.count_mcp_request(
            tenant="acme", method="tools/call", wire="2026-07-28", outcome="ok", status=200,
            seconds=0.01,
        )  # fmt: skip

    async def bare() -> None:
        for _ in range(5):
            await _nothing()

    async def measure(fn: Any, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        return (time.perf_counter() - start) / n

    async def both() -> tuple[float, float]:
        await measure(one_call_worth, 200)  # warm the label caches
        return await measure(one_call_worth, 5000), await measure(bare, 5000)

    instrumented, baseline = asyncio.run(both())
    added_us = (instrumented - baseline) * 1e6
    print(f"instrumentation, tracing off: {added_us:.1f} µs per tools/call")


if __name__ == "__main__":
    main()
