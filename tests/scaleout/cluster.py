"""Several real daphne web processes behind a real HAProxy on loopback (no fixtures here).

HAProxy balances every request round robin, with no stickiness, health-checks ``/healthz``
every 300 ms and names the process that answered in ``X-Served-By``, so a test can see that
one client's requests really landed on different processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.harness.lb import SERVED_BY, find_haproxy, haproxy_config, wait_until_serving
from tests.conftest import BASE_DIR, _wait_for, free_port, live_env

# The HAProxy config is bench/harness/lb.py's, so the bench measures the set-up this proves.
__all__ = ["SERVED_BY", "Cluster", "Web", "run_cluster"]


def haproxy_binary() -> str:
    """Debian's haproxy; ``make test`` installs it (vmcp_platform.launcher) when it is missing."""
    found = find_haproxy()
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
        wait_until_serving(self.url, expected, timeout)


@contextmanager
def run_cluster(size: int, workdir: Path) -> Iterator[Cluster]:
    """``size`` daphne processes on the test database behind one HAProxy; yields the cluster."""
    haproxy = haproxy_binary()
    webs = [Web(f"web{i + 1}", free_port()) for i in range(size)]
    lb_port = free_port()
    cluster = Cluster(f"http://127.0.0.1:{lb_port}", webs, workdir)
    config = workdir / "haproxy.cfg"
    config.write_text(haproxy_config(lb_port, [(w.name, w.port) for w in webs]))
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
