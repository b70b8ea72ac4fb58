"""Benchmark: the audit export streams 100,000 events with flat memory.

    DATABASE_URL=postgresql://… [REDIS_URL=redis://…] python bench/audit_export.py [--rows N]

Creates a throwaway tenant, COPYs N events into its schema, then streams the export through the
real view twice:

* over HTTP from a real daphne process (the production ASGI path), sampling that process's RSS;
* in process through Django's test ``Client`` (the WSGI/sync path), measuring Python
  allocations with ``tracemalloc``.

Each is run for a tenth of the rows and for all of them: flat memory means the peak growth does
not scale with the row count. The tenant (and its schema) is dropped at the end. Not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import psutil  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django_tenants.utils import tenant_context  # noqa: E402

from audit.models import AuditEvent  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import api_key_create, tenant_create, tenant_delete  # noqa: E402

MIB = 1024 * 1024
START = datetime(2026, 1, 1, tzinfo=UTC)


def insert_events(tenant: Tenant, rows: int) -> float:
    started = time.perf_counter()
    columns = (
        "occurred_at",
        "event_type",
        "outcome",
        "error_code",
        "actor",
        "identifier",
        "connection_name",
        "tool_name",
        "latency_ms",
        "request_id",
        "agent_run_id",
        "extra",
    )
    with tenant_context(tenant), connection.cursor() as cursor:
        raw = cursor.cursor
        table = connection.ops.quote_name(AuditEvent._meta.db_table)
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(rows):
                copy.write_row(
                    (
                        START + timedelta(seconds=i),
                        "tool.called",
                        "ok" if i % 10 else "error",
                        "" if i % 10 else "provider_error",
                        f"identifier:user-{i % 500}",
                        f"user-{i % 500}",
                        "gmail",
                        "gmail_send",
                        i % 900,
                        f"req-{i:08d}",
                        "",
                        f'{{"bench": true, "n": {i}}}',
                    )
                )
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_daphne() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        + ["vmcp_platform.asgi:application"],
        cwd=BASE_DIR,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daphne exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("daphne did not come up")


def stream_over_http(url: str, secret: str, params: dict[str, str], pid: int) -> dict[str, float]:
    proc = psutil.Process(pid)
    baseline = proc.memory_info().rss
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = size = 0
    started = time.perf_counter()
    with httpx.stream(
        "GET", url, params=params, headers={"Authorization": f"Bearer {secret}"}, timeout=300
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    peak = max(peak, proc.memory_info().rss)
    rows = lines - (1 if params["format"] == "csv" else 0)
    return {
        "rows": rows,
        "mib": size / MIB,
        "seconds": elapsed,
        "baseline": baseline / MIB,
        "growth": (peak - baseline) / MIB,
    }


def stream_in_process(path: str, secret: str, params: dict[str, str]) -> dict[str, float]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    response = client.get(path, params)
    assert response.status_code == 200, response.status_code
    lines = size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows = lines - (1 if params["format"] == "csv" else 0)
    return {
        "rows": rows,
        "mib": size / MIB,
        "seconds": elapsed,
        "baseline": baseline / MIB,
        "growth": (peak - baseline) / MIB,
    }


def report(label: str, result: dict[str, float]) -> None:
    print(
        f"  {label:<28} {int(result['rows']):>8} rows {result['mib']:>7.1f} MiB "
        f"{result['seconds']:>6.2f} s {result['rows'] / result['seconds']:>9,.0f} rows/s  "
        f"peak growth {result['growth']:>6.1f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    small = max(1, args.rows // 10)
    # Event i happened at START + i seconds, so `until` selects the first tenth.
    small_until = (START + timedelta(seconds=small)).isoformat()

    logging.getLogger("httpx").setLevel(logging.WARNING)
    call_command("migrate_schemas", "--shared", verbosity=0)
    slug = f"bench-export-{os.getpid()}"
    tenant = tenant_create(slug=slug, name="Export benchmark", owner_email=f"bench@{slug}.test")
    connection.set_schema_to_public()
    daphne = None
    try:
        secret = api_key_create(tenant=tenant, name="bench").secret
        seconds = insert_events(tenant, args.rows)
        connection.set_schema_to_public()
        print(f"inserted {args.rows:,} events in {seconds:.1f} s (COPY) into tenant {slug}")

        path = f"/t/{slug}/api/v1/audit/events/export"
        daphne, base = start_daphne()
        # Warm up (imports, connection) so the baseline is the steady state.
        stream_over_http(base + path, secret, {"format": "jsonl", "identifier": "none"}, daphne.pid)
        print(f"daphne (ASGI) pid {daphne.pid}, RSS sampled every 20 ms:")
        results = {}
        for fmt in ("csv", "jsonl"):
            for label, extra in ((f"{small:,} rows", {"until": small_until}), ("all rows", {})):
                # Only the inserted rows (the API key's creation is audited too).
                params = {"format": fmt, "event_type": "tool.called", **extra}
                result = stream_over_http(base + path, secret, params, daphne.pid)
                results[(fmt, label)] = result
                report(f"{fmt} {label}", result)

        # tracemalloc traces every allocation, so this path is slow; one format is enough.
        print("in process (test Client, sync path), tracemalloc:")
        stream_in_process(path, secret, {"format": "jsonl", "identifier": "none"})
        for label, extra in ((f"{small:,} rows", {"until": small_until}), ("all rows", {})):
            params = {"format": "jsonl", "event_type": "tool.called", **extra}
            report(f"jsonl {label}", stream_in_process(path, secret, params))

        full = [r for (fmt, label), r in results.items() if label == "all rows"]
        assert all(int(r["rows"]) == args.rows for r in full), "row count mismatch"
        worst = max(r["growth"] for r in full)
        body = min(r["mib"] for r in full)
        verdict = "FLAT" if worst < body / 2 else "NOT FLAT"
        print(
            f"verdict: {verdict} — largest daphne RSS growth {worst:.1f} MiB while streaming "
            f"a body of {body:.1f} MiB or more"
        )
        return 0 if verdict == "FLAT" else 1
    finally:
        if daphne is not None:
            daphne.terminate()
            try:
                daphne.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daphne.kill()
        connection.set_schema_to_public()
        tenant_delete(tenant=tenant)
        print(f"dropped tenant {slug}")


if __name__ == "__main__":
    raise SystemExit(main())
