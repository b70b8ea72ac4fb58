"""Issue 13's targets from the ``compare`` section: measured vs target, a verdict per row, and the
side-by-side figures with the ratios vmcp/direct and vmcp/FastMCP."""

from __future__ import annotations

from typing import Any

# (key, figure, unit, target, "max" = at most / "min" = at least)
TARGETS = (
    ("cpu", "web-process CPU per tools/call (c=32)", "ms", 2.0, "max"),
    ("rps", "calls/s, one web process, c=32 closed loop", "/s", 400.0, "min"),
    ("add_p50", "added latency over direct, c=1, p50", "ms", 2.0, "max"),
    ("add_p99", "added latency over direct, c=1, p99", "ms", 5.0, "max"),
    ("open_p99", "added p99, open loop 200 calls/s", "ms", 10.0, "max"),
    ("sql", "SQL statements per warm tools/call", "", 1.0, "max"),
    ("hops", "hops onto the shared sync thread per warm call", "", 0.0, "max"),
    ("list_p50", "added p50, tools/list", "ms", 1.0, "max"),
    ("builtin_p50", "added p50, built-in connector (fake provider)", "ms", 1.0, "max"),
)


def _added(data: dict[str, Any], side: str, base: str, pct: str) -> float | None:
    if not data or side not in data or base not in data:
        return None
    return round(data[side][pct] - data[base][pct], 3)


def measured(out: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per target key: the vmcp figure and the FastMCP peer's (None where it has no meaning)."""
    c1, c32, ol = out["c1"], out["c32"], out["open_loop"]
    counts = c1["counts_per_call"]
    values: dict[str, dict[str, float | None]] = {
        "cpu": {s: c32[s]["cpu_s_per_1000"] for s in ("vmcp", "fastmcp")},
        "rps": {s: c32[s]["calls_per_s"] for s in ("vmcp", "fastmcp")},
        "add_p50": {s: _added(c1, s, "direct", "p50_ms") for s in ("vmcp", "fastmcp")},
        "add_p99": {s: _added(c1, s, "direct", "p99_ms") for s in ("vmcp", "fastmcp")},
        "open_p99": {s: _added(ol, s, "direct", "p99_ms") for s in ("vmcp", "fastmcp")},
        "sql": {"vmcp": round(counts["sql"] + counts["sql_tx"], 2), "fastmcp": None},
        "hops": {"vmcp": counts["hops_shared"], "fastmcp": None},
        "list_p50": {
            s: _added(out["tools_list"], s, "direct", "p50_ms") for s in ("vmcp", "fastmcp")
        },
        "builtin_p50": {
            "vmcp": _added(out.get("builtin", {}), "vmcp", "provider", "p50_ms"),
            "fastmcp": None,
        },
    }
    return values


def _verdict(value: float | None, target: float, sense: str, extra_miss: str = "") -> str:
    if value is None:
        return "not measured"
    ok = value <= target if sense == "max" else value >= target
    if ok and not extra_miss:
        return "met"
    if not ok:
        if sense == "min":
            factor = f" ({target / value:.1f}× short)" if value > 0 else ""
        elif target > 0:
            factor = f" ({value / target:.1f}×)"
        else:
            factor = ""
        return "MISSED" + factor + (f"; {extra_miss}" if extra_miss else "")
    return "MISSED: " + extra_miss


def target_rows(out: dict[str, Any]) -> list[dict[str, Any]]:
    values = measured(out)
    achieved = out["open_loop"]["vmcp"]["achieved_per_s"]
    rows = []
    for key, figure, unit, target, sense in TARGETS:
        v = values[key]
        extra = ""
        rate = out["open_loop"]["rate"]
        direct_achieved = out["open_loop"]["direct"]["achieved_per_s"]
        if key == "open_p99" and achieved < 0.98 * rate:
            extra = f"achieved only {achieved}/s"
        if key == "open_p99" and direct_achieved < 0.98 * rate:
            # The machine itself (client + upstream) did not keep the rate: no valid comparison.
            extra += f"{'; ' if extra else ''}direct only {direct_achieved}/s: machine overloaded"
        rows.append(
            {
                "key": key,
                "figure": figure,
                "unit": unit,
                "target": f"{'≤' if sense == 'max' else '≥'} {target:g}{unit and ' ' + unit}",
                "vmcp": v["vmcp"],
                "fastmcp": v["fastmcp"],
                "verdict": _verdict(v["vmcp"], target, sense, extra),
            }
        )
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def render_targets(out: dict[str, Any]) -> str:
    head = f"{'figure (issue 13)':<48}{'target':>10}{'vmcp':>10}{'FastMCP':>10}  verdict"
    lines = [head, "-" * len(head)]
    for r in out["targets"]:
        lines.append(
            f"{r['figure']:<48}{r['target']:>10}{_fmt(r['vmcp']):>10}{_fmt(r['fastmcp']):>10}"
            f"  {r['verdict']}"
        )
    lines.append(
        "(CPU: ms of the gateway process per call = CPU-s per 1,000 calls; 'added' = gateway pXX"
        " − direct pXX in the same interleaved phase)"
    )
    return "\n".join(lines)


def render_compare(out: dict[str, Any]) -> str:
    c1, c32, ol, mem = out["c1"], out["c32"], out["open_loop"], out.get("memory", {})
    rows: list[tuple[str, float | None, float | None, float | None]] = [
        ("tools/call c=1 p50 (ms)", *(c1[s]["p50_ms"] for s in ("direct", "vmcp", "fastmcp"))),
        ("tools/call c=1 p99 (ms)", *(c1[s]["p99_ms"] for s in ("direct", "vmcp", "fastmcp"))),
        (
            "calls/s, c=32 closed loop",
            *(c32[s]["calls_per_s"] for s in ("direct", "vmcp", "fastmcp")),
        ),
        (
            "CPU-s per 1,000 calls, c=32 (direct: upstream)",
            *(c32[s]["cpu_s_per_1000"] for s in ("direct", "vmcp", "fastmcp")),
        ),
        (
            "CPU-s per 1,000 calls, c=1 (direct: upstream)",
            *(c1["cpu_ms_per_call"].get(s) for s in ("direct", "vmcp", "fastmcp")),
        ),
        (
            f"open loop {ol['rate']:.0f}/s p50 (ms)",
            *(ol[s]["p50_ms"] for s in ("direct", "vmcp", "fastmcp")),
        ),
        (
            f"open loop {ol['rate']:.0f}/s p99 (ms)",
            *(ol[s]["p99_ms"] for s in ("direct", "vmcp", "fastmcp")),
        ),
        (
            "open loop achieved calls/s",
            *(ol[s]["achieved_per_s"] for s in ("direct", "vmcp", "fastmcp")),
        ),
        (
            "tools/list c=1 p50 (ms)",
            *(out["tools_list"][s]["p50_ms"] for s in ("direct", "vmcp", "fastmcp")),
        ),
        (
            "RSS after the run, MiB (direct: upstream)",
            *(mem.get(s, {}).get("rss_mib") for s in ("direct", "vmcp", "fastmcp")),
        ),
    ]
    head = f"{'figure':<48}{'direct':>9}{'vmcp':>9}{'FastMCP':>9}"
    head += f"{'vmcp/direct':>13}{'vmcp/FastMCP':>14}"
    lines = [f"peer: {out['peer']}; vmcp under {out['server']}", head, "-" * len(head)]
    for label, d, v, f in rows:
        lines.append(
            f"{label:<48}{_fmt(d):>9}{_fmt(v):>9}{_fmt(f):>9}{_ratio(v, d):>13}{_ratio(v, f):>14}"
        )
    b = out.get("builtin")
    if b:
        lines.append(
            f"built-in gmail_list_labels p50: fake provider {b['provider']['p50_ms']:.2f} ms, "
            f"through vmcp {b['vmcp']['p50_ms']:.2f} ms; demo_echo (no provider) "
            f"{b['vmcp_demo_echo']['p50_ms']:.2f} ms"
        )
    k1, k32 = c1["counts_per_call"], c32["vmcp_counts_per_call"]
    lines.append(
        f"vmcp per warm call (c=1 / c=32): SQL {k1['sql']} / {k32['sql']} + transaction control "
        f"{k1['sql_tx']} / {k32['sql_tx']}; shared-thread hops {k1['hops_shared']} / "
        f"{k32['hops_shared']}; other thread hops {k1['hops_other']} / {k32['hops_other']}"
    )
    errors = {
        s: c1[s]["errors"] + c32[s]["errors"] + ol[s]["errors"]
        for s in ("direct", "vmcp", "fastmcp")
    }
    lines.append(
        f"errors {errors}; audit rows = vmcp calls at c=1: {c1['audit_rows']} "
        f"({'ok' if c1['audit_ok'] else 'NO'})"
    )
    lines.append(f"SQL counted by: {out['sql_method']}")
    lines.append(f"hops counted as: {out['hops_method']}")
    return "\n".join(lines)
