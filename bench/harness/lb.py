"""The ``lb`` section: 1, 2 and 3 daphne web processes behind one HAProxy (issue 18, part 3).

The HAProxy config and the binary lookup here are the one source of truth: the scale-out test
(``tests/scaleout/cluster.py``) imports them, so the bench measures the set-up the test proves.

Per row (closed loop, c=32, the upstream's ``echo``): calls/s, errors, and CPU seconds per
1,000 calls of the web processes (utime+stime from ``/proc/<pid>/stat``, summed over them),
HAProxy's, the upstream's and the load generator's apart. Around each row ``/metrics`` is
scraped (the cluster shares a fresh ``PROMETHEUS_MULTIPROC_DIR``, so one scrape sums every
process) and the deltas of ``vmcp_mcp_requests_total`` and of the ``tools/call`` histogram
must equal the calls made.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import servers

SERVED_BY = "x-served-by"

HAPROXY_CFG = """\
global
    maxconn 1024

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 60s
    # A connection refused by a dead process is retried on another one; a request that reached
    # a process is never replayed (a tools/call must not run twice).
    retries 1
    option redispatch

frontend mcp
    bind 127.0.0.1:{port}
    default_backend web

backend web
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    default-server {checks}
    http-response set-header X-Served-By %[srv_name]
{servers}
"""


def find_haproxy() -> str | None:
    """Debian's haproxy (``make test`` installs it, vmcp_platform.launcher), or None."""
    found = shutil.which("haproxy")
    if found:
        return found
    return "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None


# The test wants a killed process out of rotation fast (one failed check). Under the bench's load
# on two cores a /healthz can take longer than 300 ms, which would take a live process out and
# turn calls into HAProxy's 503s, so the bench tolerates slow checks.
FAST_CHECKS = "inter 300ms fall 1 rise 2"
BENCH_CHECKS = "inter 2s fall 3 rise 1"


def haproxy_config(port: int, backends: list[tuple[str, int]], checks: str = FAST_CHECKS) -> str:
    """The config for ``backends`` (name, port) on loopback, balanced round robin."""
    lines = (f"    server {name} 127.0.0.1:{p} check" for name, p in backends)
    return HAPROXY_CFG.format(port=port, servers="\n".join(lines), checks=checks)


def wait_until_serving(url: str, expected: set[str], timeout: float = 20) -> None:
    """Until HAProxy at ``url`` sends requests to exactly ``expected`` (its checks caught up)."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = set()
        for _ in range(len(expected) * 3):
            try:
                response = httpx.get(f"{url}/healthz", timeout=5)
            except httpx.HTTPError:  # HAProxy itself still starting
                continue
            if response.status_code == 200:
                seen.add(response.headers[SERVED_BY])
        if seen == expected:
            return
        time.sleep(0.3)
    raise AssertionError(f"HAProxy served from {seen}, expected {expected}")


# ---------------------------------------------------------------- the bench's cluster


@dataclass
class BenchCluster:
    url: str  # HAProxy
    webs: list[tuple[servers.Process, str]]
    haproxy: servers.Process


@contextlib.contextmanager
def cluster(ctx: Any, size: int) -> Iterator[BenchCluster]:
    """``size`` daphne processes sharing a fresh multiprocess-metrics dir, behind one HAProxy."""
    binary = find_haproxy()
    if binary is None:
        raise RuntimeError("haproxy is not installed: apt-get install -y haproxy")
    metrics_dir = tempfile.mkdtemp(prefix="vmcp-bench-prom-")
    workdir = Path(tempfile.mkdtemp(prefix="vmcp-bench-lb-"))
    env = {**ctx.env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    webs = [servers.web("daphne", env, 10 + i) for i in range(size)]
    port = servers.free_port()
    config = workdir / "haproxy.cfg"
    names = [f"web{i + 1}" for i in range(size)]
    backends = [(n, int(b.rsplit(":", 1)[1])) for n, (_, b) in zip(names, webs, strict=True)]
    config.write_text(haproxy_config(port, backends, BENCH_CHECKS))
    url = f"http://127.0.0.1:{port}"
    haproxy = servers.Process("haproxy", [binary, "-db", "-f", str(config)], f"{url}/healthz", env)
    try:
        ctx.progress(f"starting {size} daphne process(es) and HAProxy …")
        for process, _ in webs:
            process.start()
        haproxy.start()
        wait_until_serving(url, set(names))
        yield BenchCluster(url, webs, haproxy)
    finally:
        haproxy.stop()
        for process, _ in webs:
            process.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` (fields 14 and 15 of /proc/<pid>/stat, after the comm)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scrape(base: str) -> dict[str, float]:
    """Sums of the two series the section checks, from one ``/metrics`` of the cluster."""
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{base}/metrics", timeout=10)
    response.raise_for_status()
    out = {"requests": 0.0, "requests_ok": 0.0, "hist_vmcp": 0.0, "hist_provider": 0.0}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name == "vmcp_mcp_requests_total" and s.labels.get("method") == "tools/call":
                out["requests"] += s.value
                if s.labels.get("outcome") == "ok":
                    out["requests_ok"] += s.value
            elif s.name == "vmcp_tool_call_duration_seconds_count":
                key = f"hist_{s.labels.get('part')}"
                out[key] = out.get(key, 0.0) + s.value
    return out


# ---------------------------------------------------------------- the section


def lb_section(ctx: Any, sizes: tuple[int, ...] = (1, 2, 3), concurrency: int = 32) -> dict:
    seconds = ctx.seconds  # 3 s quick, 8 s full, as the throughput section
    out: dict[str, Any] = {"runs": [], "concurrency": concurrency, "haproxy": find_haproxy()}
    for size in sizes:
        with cluster(ctx, size) as cl:
            out["runs"].append(_row(ctx, cl, size, concurrency, seconds))
    return out


def _row(ctx: Any, cl: BenchCluster, size: int, c: int, seconds: float) -> dict[str, Any]:
    from .load import throughput

    ctx.progress(f"  echo: {size} process(es) behind HAProxy, c={c}, {seconds:.0f}s …")
    web_pids = [process.pid for process, _ in cl.webs]
    # Untimed, unmeasured warm-up: freshly started processes fill their caches (the warm path,
    # the upstream pool) first, which would otherwise dominate a short row.
    asyncio.run(throughput(lambda i: ctx.gw_call(cl.url, i), concurrency=c, seconds=1.0))
    scraped_before = scrape(cl.webs[0][1])
    cpu_before = _cpu(ctx, cl, web_pids)
    result = asyncio.run(
        throughput(lambda i: ctx.gw_call(cl.url, i), concurrency=c, seconds=seconds)
    )
    cpu_after = _cpu(ctx, cl, web_pids)
    scraped_after = scrape(cl.webs[0][1])
    calls = result["calls"] + result["warmup_calls"]
    # A call HAProxy refused (503) never reached a process: the metrics count the rest.
    reached = calls - result["errors"]
    per_1k = {k: round((cpu_after[k] - cpu_before[k]) * 1000 / calls, 3) for k in cpu_before}
    per_process = [round(cpu_after[f"web{p}"] - cpu_before[f"web{p}"], 2) for p in web_pids]
    delta = {k: scraped_after.get(k, 0.0) - scraped_before.get(k, 0.0) for k in scraped_after}
    result.update(
        {
            "processes": size,
            "calls_total": calls,
            "cpu_s_per_1k": {k: v for k, v in per_1k.items() if not k.startswith("web")}
            | {"web": round(sum(v for k, v in per_1k.items() if k.startswith("web")), 3)},
            "web_cpu_s_by_process": per_process,
            "metrics_delta": delta,
            "calls_ok": reached,
            # Every call is one tools/call request and one vmcp-part histogram observation.
            "metrics_ok": delta["requests"] == reached and delta["hist_vmcp"] == reached,
        }
    )
    ctx.progress(
        f"    → {result['calls_per_s']}/s, errors {result['errors']}, web CPU "
        f"{result['cpu_s_per_1k']['web']} s/1k calls (by process {per_process}), "
        f"/metrics: requests +{delta['requests']:.0f}, histogram +{delta['hist_vmcp']:.0f}"
        f" for {reached} answered calls{'' if result['metrics_ok'] else ' MISMATCH'}"
    )
    return result


def _cpu(ctx: Any, cl: BenchCluster, web_pids: list[int]) -> dict[str, float]:
    out = {f"web{pid}": cpu_seconds(pid) for pid in web_pids}
    out["haproxy"] = cpu_seconds(cl.haproxy.pid)
    if ctx.upstream_pid:
        out["upstream"] = cpu_seconds(ctx.upstream_pid)
    out["client"] = own_cpu_seconds()
    return out


def render_lb(data: dict[str, Any]) -> str:
    header = (
        f"{'web procs':>9}{'c':>5}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'web CPU s/1k':>14}{'haproxy':>9}{'upstream':>10}{'client':>8}"
        f"{'/metrics requests':>19}{'histogram':>11}"
    )
    rows = [header, "-" * len(header)]
    for r in data["runs"]:
        cpu, d, n = r["cpu_s_per_1k"], r["metrics_delta"], r["calls_ok"]
        flag = "" if r["metrics_ok"] else " MISMATCH"
        moved_requests = f"+{d['requests']:.0f}/{n}"
        moved_histogram = f"+{d['hist_vmcp']:.0f}/{n}"
        rows.append(
            f"{r['processes']:>9}{r['concurrency']:>5}{r['calls_per_s']:>10.1f}"
            f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}{cpu['web']:>14.2f}"
            f"{cpu['haproxy']:>9.2f}{cpu.get('upstream', float('nan')):>10.2f}"
            f"{cpu['client']:>8.2f}{moved_requests:>19}{moved_histogram:>11}{flag}"
        )
    rows.append(
        "CPU: utime+stime seconds per 1,000 calls (web = summed over the web processes); "
        "/metrics: delta of vmcp_mcp_requests_total{method=tools/call} and of "
        "vmcp_tool_call_duration_seconds_count{part=vmcp} / calls answered\n"
        "(warm-up included; all calls minus errors)."
    )
    return "\n".join(rows)
