"""The five sections of ``bench/run.py``: latency, throughput, tokens, scale, asgi (+ profile)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import provision, servers
from .client import Request
from .load import interleaved, throughput

RESULTS_DIR = servers.BASE_DIR / "bench" / "results"


@dataclass
class Ctx:
    quick: bool
    env: dict[str, str]
    bench: provision.Bench
    progress: Any
    server: str = "daphne"
    results: dict[str, Any] = field(default_factory=dict)
    upstream_pid: int | None = None

    @property
    def calls(self) -> int:
        return 200 if self.quick else 1000

    @property
    def seconds(self) -> float:
        return 3.0 if self.quick else 8.0

    @contextlib.contextmanager
    def gateways(self, kind: str | None = None, count: int = 1) -> Iterator[list[Any]]:
        kind = kind or self.server
        started = []
        try:
            for index in range(count):
                process, base = servers.web(kind, self.env, index)
                self.progress(f"starting {kind} web process {index + 1}/{count} …")
                process.start()
                started.append((process, base))
            yield started
        finally:
            for process, _ in started:
                process.stop()

    # requests ---------------------------------------------------------------------------

    def gw_call(self, base: str, index: int, tool: str = "echo", args: dict | None = None):
        b = self.bench
        return Request.tools_call(
            base + b.mcp_path(),
            tool,
            {"text": "hello"} if args is None else args,
            b.tokens[index % len(b.tokens)],
        )

    def up_call(self, index: int) -> Request:
        return Request.tools_call(self.bench.upstream_url, "echo", {"text": "hello"}, None)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------- 1. latency


def verify_official_client(ctx: Ctx, base: str) -> dict[str, Any]:
    """The official ``mcp`` client through the gateway gets what the raw client gets."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from .client import Pool, timed

    url = base + ctx.bench.mcp_path()
    token = ctx.bench.tokens[0]

    async def official() -> dict[str, Any]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                listed = await client.list_tools()
                result = await client.call_tool("echo", {"text": "hello"})
                return {
                    "protocol_version": client.protocol_version,
                    "tools": sorted(t.name for t in listed.tools),
                    "content": [
                        b.model_dump(by_alias=True, exclude_none=True, mode="json")
                        for b in result.content
                    ],
                    "is_error": bool(result.is_error),
                }

    async def raw() -> dict[str, Any]:
        pool = Pool()
        try:
            _, ok, result = await timed(pool, ctx.gw_call(base, 0))
            _, _, listed = await timed(pool, Request.tools_list(url, token))
        finally:
            await pool.close()
        return {
            "ok": ok,
            "content": result["content"],
            "tools": sorted(t["name"] for t in listed["tools"]),
        }

    a, b = _run(official()), _run(raw())
    same = a["content"] == b["content"] and a["tools"] == b["tools"] and not a["is_error"]
    if not same:
        raise RuntimeError(f"official client and raw client disagree: {a!r} vs {b!r}")
    return {"same_result": same, "official_protocol_version": a["protocol_version"]}


def latency(ctx: Ctx, base: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with ctx.gateways() if base is None else contextlib.nullcontext([(None, base)]) as gws:
        base = gws[0][1]
        out["check"] = verify_official_client(ctx, base)
        ctx.progress(f"  official mcp client agrees with the raw client ({out['check']})")
        for c in (1, 32):
            ctx.progress(f"  tools/call echo: direct vs gateway, {ctx.calls} each, c={c} …")
            out[f"tools_call_c{c}"] = _run(
                interleaved(
                    ctx.up_call, lambda i: ctx.gw_call(base, i), calls=ctx.calls, concurrency=c
                )
            )
        b = ctx.bench
        n = max(ctx.calls // 2, 100)
        ctx.progress(f"  tools/list: direct vs gateway, {n} each, c=1 …")
        out["tools_list_c1"] = _run(
            interleaved(
                lambda i: Request.tools_list(b.upstream_url, None),
                lambda i: Request.tools_list(base + b.mcp_path(), b.tokens[0]),
                calls=n,
                concurrency=1,
            )
        )
        ctx.progress(f"  demo_echo (built-in local tool, no upstream): {n}, c=1 …")
        out["demo_echo_c1"] = _run(
            interleaved(
                None,
                lambda i: ctx.gw_call(base, i, "demo_echo", {"text": "hi"}),
                calls=n,
                concurrency=1,
            )
        )
        if b.fake_gmail_url:
            ctx.progress(f"  gmail_list_labels: fake Google directly vs gateway, {n}, c=1 …")
            out["gmail_list_labels_c1"] = _run(
                interleaved(
                    lambda i: Request.get_json(
                        b.fake_gmail_url + "/users/me/labels", b.gmail_token
                    ),
                    lambda i: ctx.gw_call(base, 0, "gmail_list_labels", {}),
                    calls=n,
                    concurrency=1,
                )
            )
    return out


def render_latency(data: dict[str, Any]) -> str:
    rows = [f"{'case':<26}{'c':>4}{'side':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'err':>6}"]
    rows.append("-" * len(rows[0]))
    for key, value in data.items():
        if not isinstance(value, dict) or "gateway" not in value:
            continue
        case = key.rsplit("_c", 1)[0]
        c = value["concurrency"]
        for side in ("direct", "gateway", "added", "pair_diff"):
            s = value.get(side)
            if not s:
                continue
            label = {"pair_diff": "pair Δ", "added": "added"}.get(side, side)
            rows.append(
                f"{case:<26}{c:>4}{label:>9}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}"
                f"{s['p99_ms']:>9.2f}{s.get('errors', ''):>6}"
            )
    return (
        "\n".join(rows)
        + "\n(ms; 'added' = gateway pXX − direct pXX; 'pair Δ' = pXX of per-pair differences)"
    )


# ---------------------------------------------------------------- 2. throughput


def throughput_section(ctx: Ctx, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": []}
    levels = (1, 8, 32, 64)
    for processes in (1, 2):
        with ctx.gateways(count=processes) as gws:
            bases = [base for _, base in gws]
            for c in levels:
                out["runs"].append(_throughput_run(ctx, bases, c, "echo", processes))
            if processes == 1:
                # The gateway alone: a built-in local tool (no upstream MCP round trip).
                out["runs"].append(
                    _throughput_run(ctx, bases, 32, "demo_echo", processes, {"text": "hi"})
                )
    return out


def _throughput_run(
    ctx: Ctx,
    bases: list[str],
    c: int,
    tool: str,
    processes: int,
    args: dict | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    seconds = seconds or ctx.seconds
    ctx.progress(f"  {tool}: {processes} process(es), c={c}, {seconds:.0f}s …")
    before = provision.tool_called_rows(ctx.bench.tenant)
    result = _run(
        throughput(
            lambda i: ctx.gw_call(bases[i % len(bases)], i, tool, args),
            concurrency=c,
            seconds=seconds,
        )
    )
    after = provision.tool_called_rows(ctx.bench.tenant)
    total_calls = result["calls"] + result["warmup_calls"]
    result.update(
        {
            "server": ctx.server,
            "processes": processes,
            "tool": tool,
            "audit_rows": after - before,
            "audit_ok": after - before == total_calls,
        }
    )
    ctx.progress(
        f"    → {result['calls_per_s']}/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"errors {result['errors']}, audit rows {after - before}/{total_calls}"
    )
    return result


def render_throughput(data: dict[str, Any]) -> str:
    rows = [
        f"{'server':<9}{'procs':>6}{'tool':>11}{'c':>5}{'calls/s':>10}{'p50':>8}{'p99':>9}"
        f"{'errors':>8}{'audit rows = calls':>20}"
    ]
    rows.append("-" * len(rows[0]))
    for r in data["runs"]:
        calls = r["calls"] + r["warmup_calls"]
        rows.append(
            f"{r['server']:<9}{r['processes']:>6}{r['tool']:>11}{r['concurrency']:>5}"
            f"{r['calls_per_s']:>10.1f}{r['p50_ms']:>8.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}"
            f"{(str(r['audit_rows']) + '/' + str(calls) + (' ok' if r['audit_ok'] else ' NO')):>20}"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------- 3. tokens


def tokens_section(ctx: Ctx) -> dict[str, Any]:
    sys.path.insert(0, str(servers.BASE_DIR / "bench"))
    import token_savings

    rows = token_savings.measure()
    out: dict[str, Any] = {"catalogs": rows}
    b = ctx.bench
    if b.full_config_id:
        with ctx.gateways() as gws:
            base = gws[0][1]
            measured = {}
            for label, config_id, token in (
                ("gmail, all tools", b.full_config_id, b.full_token),
                ("gmail, 3 tools", b.scoped_config_id, b.scoped_token),
            ):
                body = _raw_tools_list(base + b.mcp_path(config_id), token)
                payload = json.loads(body)
                measured[label] = {
                    "tools": len(payload["result"]["tools"]),
                    "bytes": len(body),
                    "tokens": len(body) // token_savings.BYTES_PER_TOKEN,
                }
            gmail = next(r for r in rows if r["connector"] == "gmail")
            full, scoped = measured["gmail, all tools"], measured["gmail, 3 tools"]
            out["through_gateway"] = {
                **measured,
                "saved_pct": round(100 * (1 - scoped["bytes"] / full["bytes"]), 1),
                "estimate_full_bytes": gmail["full_bytes"],
                "estimate_3_bytes": gmail["scoped"].get(3, {}).get("bytes"),
            }
    return out


def _raw_tools_list(url: str, token: str) -> bytes:
    from .client import Pool

    async def go() -> bytes:
        pool = Pool()
        try:
            req = Request.tools_list(url, token)
            conn = pool.get(url)
            status, data = await conn.post(req.headers, req.body)
            assert status == 200, data[:200]
            return data
        finally:
            await pool.close()

    return _run(go())


def render_tokens(data: dict[str, Any]) -> str:
    sys.path.insert(0, str(servers.BASE_DIR / "bench"))
    import token_savings

    text = token_savings.render(data["catalogs"])
    g = data.get("through_gateway")
    if g:
        text += (
            "\n\nCross-check, real tools/list responses through the gateway (bytes on the wire):\n"
            f"  gmail, all {g['gmail, all tools']['tools']} tools:"
            f" {g['gmail, all tools']['bytes']} B"
            f" (estimate {g['estimate_full_bytes']} B); gmail, 3 tools:"
            f" {g['gmail, 3 tools']['bytes']} B (estimate {g['estimate_3_bytes']} B);"
            f" saved {g['saved_pct']}%"
        )
    return text


# ---------------------------------------------------------------- 4. scale


def scale_section(ctx: Ctx, tenant_levels: tuple[int, ...], tokens: int, audit_rows: int):
    from tenants.models import Tenant

    out: dict[str, Any] = {"tenants": [], "rows": []}
    n = max(ctx.calls // 2, 200)

    def measure(label: str, base: str) -> dict[str, Any]:
        result = _run(
            interleaved(ctx.up_call, lambda i: ctx.gw_call(base, i), calls=n, concurrency=1)
        )
        row = {
            "case": label,
            **result["gateway"],
            "added_p50_ms": result["added"]["p50_ms"],
            "added_p99_ms": result["added"]["p99_ms"],
        }
        ctx.progress(
            f"    → {label}: gateway p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms "
            f"(added p50 {row['added_p50_ms']} ms)"
        )
        return row

    for level in tenant_levels:
        ctx.progress(f"  scale: {level} tenants …")
        provisioning = provision.ensure_scale_tenants(level, ctx.progress)
        total = Tenant.objects.exclude(schema_name="public").count()
        with ctx.gateways() as gws:
            row = measure(f"{total} tenants", gws[0][1])
        row["provisioning"] = provisioning
        out["tenants"].append(row)

    ctx.progress(f"  scale: inserting {tokens:,} session tokens …")
    out["tokens_insert_s"] = round(provision.bulk_session_tokens(ctx.bench, tokens), 1)
    with ctx.gateways() as gws:
        out["rows"].append(measure(f"+{tokens:,} session tokens", gws[0][1]))
    ctx.progress(f"  scale: COPYing {audit_rows:,} audit rows …")
    out["audit_copy_s"] = round(provision.copy_audit_rows(ctx.bench, audit_rows, ctx.progress), 1)
    with ctx.gateways() as gws:
        out["rows"].append(measure(f"+{audit_rows:,} audit rows", gws[0][1]))
    ctx.progress(f"  scale: retention purge of {audit_rows:,} expired audit rows …")
    seconds, counts = provision.purge_audit(ctx.bench)
    out["purge"] = {
        "seconds": round(seconds, 1),
        "deleted": counts.get("audit_events", 0),
        "rows_per_s": round(counts.get("audit_events", 0) / seconds),
    }
    ctx.progress(f"    → purged {counts.get('audit_events', 0):,} rows in {seconds:.1f}s")
    return out


def render_scale(data: dict[str, Any]) -> str:
    rows = [
        f"{'case':<30}{'p50':>8}{'p95':>8}{'p99':>8}{'added p50':>11}{'added p99':>11}"
        "  provisioning"
    ]
    rows.append("-" * len(rows[0]))
    base = None
    for r in data["tenants"] + data["rows"]:
        base = base or r["p50_ms"]
        prov = r.get("provisioning")
        ptxt = (
            f"{prov['created']} created in {prov['seconds']}s ({prov['per_tenant_ms']} ms each)"
            if prov and prov["created"]
            else ""
        )
        rows.append(
            f"{r['case']:<30}{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}{r['p99_ms']:>8.2f}"
            f"{r['added_p50_ms']:>11.2f}{r['added_p99_ms']:>11.2f}  {ptxt}"
        )
    p = data["purge"]
    rows.append(
        f"\nsession tokens inserted in {data['tokens_insert_s']}s; audit rows COPYed in "
        f"{data['audit_copy_s']}s; retention purge: {p['deleted']:,} rows in {p['seconds']}s "
        f"({p['rows_per_s']:,} rows/s)"
    )
    return "\n".join(rows)


# ---------------------------------------------------------------- 5. asgi


def asgi_section(ctx: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("daphne", "uvicorn"):
        with ctx.gateways(kind) as gws:
            base = gws[0][1]
            row: dict[str, Any] = {}
            for c in (1, 32):
                ctx.progress(f"  {kind}: tools/call latency c={c} …")
                r = _run(
                    interleaved(
                        ctx.up_call,
                        lambda i, base=base: ctx.gw_call(base, i),
                        calls=ctx.calls // 2,
                        concurrency=c,
                    )
                )
                row[f"c{c}"] = {"gateway": r["gateway"], "added": r["added"]}
            previous, ctx.server = ctx.server, kind
            row["throughput_c32"] = _throughput_run(ctx, [base], 32, "echo", 1)
            row["throughput_demo_c32"] = _throughput_run(
                ctx, [base], 32, "demo_echo", 1, {"text": "hi"}
            )
            ctx.server = previous
            out[kind] = row
    return out


def render_asgi(data: dict[str, Any]) -> str:
    rows = [
        f"{'server':<9}{'c1 p50':>8}{'c1 p99':>8}{'add p50':>9}{'add p99':>9}{'c32 p99':>9}"
        f"{'add p99':>9}{'echo/s':>9}{'demo/s':>9}"
    ]
    rows.append("-" * len(rows[0]))
    for kind, r in data.items():
        if not isinstance(r, dict):
            continue
        rows.append(
            f"{kind:<9}{r['c1']['gateway']['p50_ms']:>8.2f}{r['c1']['gateway']['p99_ms']:>8.2f}"
            f"{r['c1']['added']['p50_ms']:>9.2f}{r['c1']['added']['p99_ms']:>9.2f}"
            f"{r['c32']['gateway']['p99_ms']:>9.2f}{r['c32']['added']['p99_ms']:>9.2f}"
            f"{r['throughput_c32']['calls_per_s']:>9.1f}{r['throughput_demo_c32']['calls_per_s']:>9.1f}"
        )
    return "\n".join(rows) + "\n(ms; echo/s, demo/s: tools/call per second at c=32, one process)"


# ---------------------------------------------------------------- profile


def profile_section(ctx: Ctx, seconds: float = 15.0) -> dict[str, Any]:
    """py-spy on the web process under c=32 load; top frames by own and by inclusive time."""
    out: dict[str, Any] = {}
    with ctx.gateways() as gws:
        process, base = gws[0]
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        raw = RESULTS_DIR / f"profile-{ctx.server}.txt"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "-p",
                str(process.pid),
                "-d",
                str(int(seconds)),
                "-r",
                "250",
                "-f",
                "raw",
                "-o",
                str(raw),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
        run = _throughput_run(ctx, [base], 32, "echo", 1, seconds=seconds - 2)
        spy.wait(timeout=seconds + 30)
        out["throughput"] = run
        out["file"] = str(raw.relative_to(servers.BASE_DIR))
        out.update(summarize_profile(raw))
    return out


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[_frame(frames[-1])] += count
        for frame in {_frame(f) for f in frames}:
            inclusive[frame] += count
    pct = lambda c: round(100 * c / total, 1) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "top_own": [(f, pct(c)) for f, c in own.most_common(top)],
        "top_inclusive": [
            (f, pct(c))
            for f, c in inclusive.most_common(200)
            if "site-packages" not in f or "django" in f or "mcp" in f
        ][:top],
    }


def _frame(frame: str) -> str:
    # py-spy raw: "function (path/to/file.py:line)"; keep function + trimmed path, drop line.
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def render_profile(data: dict[str, Any]) -> str:
    lines = [f"{data['samples']} samples ({data['file']}); top by own time:"]
    lines += [f"  {p:5.1f}%  {f}" for f, p in data["top_own"][:15]]
    lines.append("top by inclusive time (project, django, mcp):")
    lines += [f"  {p:5.1f}%  {f}" for f, p in data["top_inclusive"][:25]]
    return "\n".join(lines)
