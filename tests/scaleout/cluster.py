"""Several real daphne web processes behind a real HAProxy on loopback (no fixtures here).

HAProxy balances every request round robin, with no stickiness, health-checks ``/healthz``
every 300 ms and names the process that answered in ``X-Served-By``, so a test can see that
one client's requests really landed on different processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import BASE_DIR, _wait_for, free_port, live_env

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
    default-server inter 300ms fall 1 rise 2
    http-response set-header X-Served-By %[srv_name]
{servers}
"""


def haproxy_binary() -> str:
    """Debian's haproxy; ``make test`` installs it (vmcp_platform.launcher) when it is missing."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None
    )
    if found:
        return found
    message = "haproxy is not installed: `make test` installs it, or apt-get install -y haproxy"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Web:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Cluster:
    url: str
    webs: list[Web]
    workdir: Path
    haproxy: subprocess.Popen[bytes] | None = None
    log_files: list[Path] = field(default_factory=list)

    def start_web(self, web: Web) -> None:
        from tests.secret_scan import daphne_log_file

        log_file = daphne_log_file(web.port)
        web.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(web.port),
                "vmcp_platform.asgi:application",
            ],
            cwd=BASE_DIR,
            env=live_env(),
            stdout=log_file.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def wait_web(self, web: Web) -> None:
        assert web.process is not None
        _wait_for(f"http://127.0.0.1:{web.port}/healthz", web.process, timeout=60)

    def kill(self, web: Web) -> None:
        """SIGKILL: no graceful close, as when a machine or a container dies."""
        assert web.process is not None
        web.process.send_signal(signal.SIGKILL)
        web.process.wait(timeout=10)

    def revive(self, web: Web) -> None:
        """Start a killed process again and wait until HAProxy sends it requests."""
        self.start_web(web)
        self.wait_web(web)
        self.wait_until_serving({w.name for w in self.webs})

    def wait_until_serving(self, expected: set[str], timeout: float = 20) -> None:
        """Until HAProxy sends requests to exactly ``expected`` (its health checks caught up)."""
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            seen = set()
            for _ in range(len(self.webs) * 3):
                try:
                    response = httpx.get(f"{self.url}/healthz", timeout=5)
                except httpx.HTTPError:  # HAProxy itself still starting
                    continue
                if response.status_code == 200:
                    seen.add(response.headers[SERVED_BY])
            if seen == expected:
                return
            time.sleep(0.3)
        raise AssertionError(f"HAProxy served from {seen}, expected {expected}")


@contextmanager
def run_cluster(size: int, workdir: Path) -> Iterator[Cluster]:
    """``size`` daphne processes on the test database behind one HAProxy; yields the cluster."""
    haproxy = haproxy_binary()
    webs = [Web(f"web{i + 1}", free_port()) for i in range(size)]
    lb_port = free_port()
    cluster = Cluster(f"http://127.0.0.1:{lb_port}", webs, workdir)
    config = workdir / "haproxy.cfg"
    config.write_text(
        HAPROXY_CFG.format(
            port=lb_port,
            servers="\n".join(f"    server {w.name} 127.0.0.1:{w.port} check" for w in webs),
        )
    )
    subprocess.run([haproxy, "-c", "-q", "-f", str(config)], check=True)
    try:
        for web in webs:  # started together, waited for together: ~3x faster on two cores
            cluster.start_web(web)
        for web in webs:
            cluster.wait_web(web)
        cluster.haproxy = subprocess.Popen(
            [haproxy, "-db", "-f", str(config)],
            stdout=(workdir / "haproxy.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        cluster.wait_until_serving({w.name for w in webs})
        yield cluster
    finally:
        for process in [cluster.haproxy, *(w.process for w in webs)]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [cluster.haproxy, *(w.process for w in webs)]:
            if process is not None:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
