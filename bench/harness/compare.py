"""The ``compare`` section: direct vs vmcp vs a FastMCP proxy, interleaved, and issue 13's targets.

One vmcp web process (with the bench's counters, ``probe.py``), one FastMCP proxy
(``bench/peers/fastmcp_proxy.py``, its own venv) and the upstream, all up at once; the same
client measures the three in every phase:

1. c=1 latency, round-robin per call (direct, vmcp, FastMCP, rotating which goes first); SQL
   statements and hops per call from the counters' difference over this phase's warm calls.
2. c=32 closed loop, interleaved per batch (rounds of one batch per target); calls/s, and CPU
   seconds per 1,000 calls of the process serving that batch (``/proc/<pid>/stat``).
3. Open loop at a fixed 200 calls/s (rounds of one batch per target), latency from the scheduled
   send time, achieved rate.
4. ``tools/list`` (c=1, round-robin) and a built-in connector call (``gmail_list_labels`` against
   the fake Google, vs the fake called directly; ``demo_echo`` for the gateway alone).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from . import peer, probe, provision, servers
from .client import Pool, Request, Samples, timed
from .load import throughput
from .mixed import open_loop, round_robin

SIDES = ("direct", "vmcp", "fastmcp")
OPEN_LOOP_RATE = 200.0


def compare_section(ctx: Any) -> dict[str, Any]:
    b = ctx.bench
    python = peer.ensure_venv(ctx.progress)
    out: dict[str, Any] = {"peer": peer.version(python), "server": ctx.server}
    probe_file = str(servers.LOG_DIR / "vmcp-probe.json")
    gateway, base = servers.web(ctx.server, ctx.env, probe=probe_file)
    fastmcp, fastmcp_url, fastmcp_token = peer.fastmcp_proxy(
        python, ctx.env, upstream_url=b.upstream_url, tools=["echo"]
    )
    ctx.progress(f"  starting vmcp ({ctx.server}, counters on) and the {out['peer']} proxy …")
    with contextlib.ExitStack() as stack:
        stack.enter_context(gateway)
        stack.enter_context(fastmcp)
        pids = {"direct": ctx.upstream_pid, "vmcp": gateway.pid, "fastmcp": fastmcp.pid}
        vmcp_url = base + b.mcp_path()
        calls = {
            "direct": lambda i: Request.tools_call(b.upstream_url, "echo", {"text": "hi"}, None),
            "vmcp": lambda i: ctx.gw_call(base, i, "echo", {"text": "hi"}),
            "fastmcp": lambda i: Request.tools_call(
                fastmcp_url, "echo", {"text": "hi"}, fastmcp_token
            ),
        }
        out["checks"] = _checks(vmcp_url, b.tokens[0], fastmcp_url, fastmcp_token)
        ctx.progress(f"  checks: {out['checks']}")

        def counters() -> dict[str, int]:
            return probe.read(gateway.pid, probe_file)

        out["c1"] = _c1(ctx, calls, pids, counters)
        out["c32"] = _c32(ctx, calls, pids, counters)
        out["open_loop"] = _open(ctx, calls)
        out["tools_list"] = _summaries(
            asyncio.run(
                round_robin(
                    {
                        "direct": lambda i: Request.tools_list(b.upstream_url, None),
                        "vmcp": lambda i: Request.tools_list(vmcp_url, b.tokens[0]),
                        "fastmcp": lambda i: Request.tools_list(fastmcp_url, fastmcp_token),
                    },
                    calls=_small(ctx),
                )
            )
        )
        ctx.progress(f"  tools/list p50: {_p50s(out['tools_list'])}")
        if b.fake_gmail_url:
            out["builtin"] = _summaries(
                asyncio.run(
                    round_robin(
                        {
                            "provider": lambda i: Request.get_json(
                                b.fake_gmail_url + "/users/me/labels", b.gmail_token
                            ),
                            "vmcp": lambda i: ctx.gw_call(base, 0, "gmail_list_labels", {}),
                            "vmcp_demo_echo": lambda i: ctx.gw_call(
                                base, 0, "demo_echo", {"text": "hi"}
                            ),
                        },
                        calls=_small(ctx),
                    )
                )
            )
            ctx.progress(f"  built-in p50: {_p50s(out['builtin'])}")
        out["memory"] = {side: peer.memory_mib(pid) for side, pid in pids.items() if pid}
    out["sql_method"] = (
        "psycopg-level counter in the vmcp web process (bench/harness/probe.py): every statement"
        " psycopg sends (execute, each executemany row, COPY, prepared executions) plus its own"
        " BEGIN/COMMIT/ROLLBACK/SAVEPOINT; health checks and SET search_path included"
    )
    out["hops_method"] = (
        "asgiref SyncToAsync calls with thread_sensitive=True in the vmcp web process"
        " (sync_to_async, database_sync_to_async, run_db)"
    )
    from .targets import target_rows

    out["targets"] = target_rows(out)
    return out


def _small(ctx: Any) -> int:
    return max(ctx.calls // 2, 100)


def _summaries(samples: dict[str, Samples]) -> dict[str, Any]:
    return {name: s.summary() for name, s in samples.items()} | {
        "first_errors": {n: str(s.first_error)[:300] for n, s in samples.items() if s.first_error}
    }


def _p50s(data: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v['p50_ms']:.2f} ms"
        for k, v in data.items()
        if isinstance(v, dict) and "p50_ms" in v
    )


def _checks(vmcp_url: str, vmcp_token: str, fastmcp_url: str, fastmcp_token: str) -> dict:
    """The peer is a fair one: same tools listed, hidden tool refused, bad token refused."""

    async def go() -> dict[str, Any]:
        pool = Pool()
        try:
            result: dict[str, Any] = {}
            for side, url, token in (
                ("vmcp", vmcp_url, vmcp_token),
                ("fastmcp", fastmcp_url, fastmcp_token),
            ):
                _, ok, listed = await timed(pool, Request.tools_list(url, token))
                names = sorted(t["name"] for t in listed["tools"]) if ok else listed
                _, hidden_ok, _ = await timed(
                    pool, Request.tools_call(url, "reverse", {"text": "ab"}, token)
                )
                _, bad_ok, _ = await timed(
                    pool, Request.tools_call(url, "echo", {"text": "x"}, "not-the-token")
                )
                if "echo" not in names or "reverse" in names or hidden_ok or bad_ok:
                    raise RuntimeError(
                        f"{side} does not filter or check tokens: tools {names}, hidden tool "
                        f"served {hidden_ok}, bad token served {bad_ok}"
                    )
                result[side] = {"tools": names, "hidden_refused": True, "bad_token_refused": True}
            return result
        finally:
            await pool.close()

    return asyncio.run(go())


def _cpu(pids: dict[str, int | None]) -> dict[str, float]:
    return {side: peer.cpu_seconds(pid) for side, pid in pids.items() if pid}


def _c1(ctx: Any, calls: dict, pids: dict, counters: Any) -> dict[str, Any]:
    n = ctx.calls
    ctx.progress(f"  tools/call c=1, round-robin per call, {n} calls per side …")
    # Warm first (connections, caches, the upstream session): the counters are per warm call.
    asyncio.run(round_robin(calls, calls=10))
    audit_before = provision.tool_called_rows(ctx.bench.tenant)
    count_before, cpu_before = counters(), _cpu(pids)
    samples = asyncio.run(round_robin(calls, calls=n, warmup=0))
    cpu_after, count_after = _cpu(pids), counters()
    audit_rows = provision.tool_called_rows(ctx.bench.tenant) - audit_before
    out = _summaries(samples)
    served = {"direct": 3 * n, "vmcp": n, "fastmcp": n}  # the upstream serves all three
    out["cpu_ms_per_call"] = {
        side: round(1000 * (cpu_after[side] - cpu_before[side]) / served[side], 3)
        for side in cpu_after
    }
    out["counts_per_call"] = {
        k: round((count_after[k] - count_before[k]) / n, 2) for k in count_after
    }
    out["audit_rows"], out["audit_ok"] = audit_rows, audit_rows == n
    ctx.progress(
        f"    → p50 {_p50s(out)}; vmcp per call: {out['counts_per_call']}, audit {audit_rows}/{n}"
    )
    return out


def _c32(ctx: Any, calls: dict, pids: dict, counters: Any) -> dict[str, Any]:
    rounds, seconds = (2, 1.5) if ctx.quick else (3, 4.0)
    ctx.progress(f"  tools/call c=32 closed loop, {rounds} rounds × {seconds:.1f}s per side …")
    totals = {s: {"calls": 0, "seconds": 0.0, "cpu_s": 0.0, "errors": 0} for s in SIDES}
    p99: dict[str, list[float]] = {s: [] for s in SIDES}
    count_before = counters()
    for r in range(rounds):
        order = SIDES[r % 3 :] + SIDES[: r % 3]
        for side in order:
            cpu_before = peer.cpu_seconds(pids[side]) if pids[side] else 0.0
            result = asyncio.run(throughput(calls[side], concurrency=32, seconds=seconds))
            cpu = (peer.cpu_seconds(pids[side]) if pids[side] else 0.0) - cpu_before
            t = totals[side]
            t["calls"] += result["calls"] + result["warmup_calls"]
            t["seconds"] += result["seconds"]
            t["cpu_s"] += cpu
            t["errors"] += result["errors"]
            p99[side].append(result["p99_ms"])
    count_after = counters()
    out: dict[str, Any] = {}
    for side, t in totals.items():
        out[side] = {
            "calls": t["calls"],
            "errors": t["errors"],
            "calls_per_s": round(t["calls"] / t["seconds"], 1),
            # CPU of the process serving the batch: vmcp's, FastMCP's, or the upstream's (direct).
            "cpu_s_per_1000": round(1000 * t["cpu_s"] / t["calls"], 3),
            "cpu_busy": round(t["cpu_s"] / t["seconds"], 2),
            "p99_ms_max": max(p99[side]),
        }
    out["vmcp_counts_per_call"] = {
        k: round((count_after[k] - count_before[k]) / totals["vmcp"]["calls"], 2)
        for k in count_after
    }
    ctx.progress(
        "    → "
        + "; ".join(
            f"{s} {out[s]['calls_per_s']}/s, {out[s]['cpu_s_per_1000']} CPU-s/1k" for s in SIDES
        )
    )
    return out


def _open(ctx: Any, calls: dict) -> dict[str, Any]:
    rounds, seconds = (1, 3.0) if ctx.quick else (2, 6.0)
    ctx.progress(
        f"  open loop {OPEN_LOOP_RATE:.0f} calls/s, {rounds} round(s) × {seconds:.0f}s per side …"
    )
    samples = {s: Samples() for s in SIDES}
    batches: dict[str, list[dict[str, Any]]] = {s: [] for s in SIDES}
    for r in range(rounds):
        order = SIDES[r % 3 :] + SIDES[: r % 3]
        for side in order:
            batches[side].append(
                asyncio.run(
                    open_loop(calls[side](0), samples[side], rate=OPEN_LOOP_RATE, seconds=seconds)
                )
            )
    out: dict[str, Any] = {"rate": OPEN_LOOP_RATE, "seconds_per_batch": seconds}
    for side in SIDES:
        completed = sum(b["completed"] for b in batches[side])
        window = sum(b["window_s"] for b in batches[side])
        out[side] = {
            **samples[side].summary(),
            "achieved_per_s": round(completed / window, 1),
            "max_send_lag_ms": max(b["max_send_lag_ms"] for b in batches[side]),
            "not_sent": sum(b["not_sent"] for b in batches[side]),
        }
    ctx.progress(
        "    → "
        + "; ".join(f"{s} p99 {out[s]['p99_ms']} ms at {out[s]['achieved_per_s']}/s" for s in SIDES)
    )
    return out
