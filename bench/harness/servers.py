"""Child processes of a benchmark run: the upstream MCP server and the gateway's web processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent.parent
LOG_DIR = BASE_DIR / "bench" / "results" / "logs"

ASGI_APP = "vmcp_platform.asgi:application"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process with its log file; ``start`` waits until ``ready_url`` answers."""

    def __init__(self, name: str, command: list[str], ready_url: str, env: dict[str, str]) -> None:
        self.name = name
        self.command = command
        self.ready_url = ready_url
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> Process:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n"
                    + self.log_path.read_text()[-3000:]
                )
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not come up within {timeout}s")

    def _ready(self) -> bool:
        if self.ready_url.endswith("/healthz"):
            try:
                return httpx.get(self.ready_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        # The upstream: accepting connections is enough (a GET on /mcp would open a stream).
        parts = urlsplit(self.ready_url)
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def upstream(env: dict[str, str]) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        "upstream",
        [sys.executable, "bench/upstream.py", "--port", str(port)],
        f"http://127.0.0.1:{port}/mcp",
        env,
    )
    return process, f"http://127.0.0.1:{port}/mcp"


def web(
    kind: str, env: dict[str, str], index: int = 0, *, probe: str | None = None
) -> tuple[Process, str]:
    """One gateway web process: ``daphne`` or ``uvicorn`` serving the same ASGI app.

    ``probe``: a file path; the process then counts SQL statements and thread hops
    (``bench/harness/probe.py``, installed before the server starts; the app is unchanged).
    """
    port = free_port()
    if kind == "daphne":
        # As the launcher runs it: daphne on uvloop (VMCP_UVLOOP=false in env: plain asyncio).
        command = [sys.executable, "-m", "vmcp_platform.web", "-b", "127.0.0.1", "-p", str(port)]
        command.append(ASGI_APP)
    elif kind == "uvicorn":
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            ASGI_APP,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
        ]
    else:
        raise ValueError(f"unknown ASGI server {kind!r}")
    prelude = []
    interval = env.get("BENCH_SWITCH_INTERVAL")
    if interval:
        # Experiment knob: the interpreter's GIL switch interval (default 5 ms) in the web process.
        prelude.append(f"sys.setswitchinterval({float(interval)!r})")
    if probe:
        prelude.append(f"from bench.harness import probe; probe.install({probe!r})")
    if prelude:
        module, argv = command[2], command[3:]
        command = [
            sys.executable,
            "-c",
            "import runpy, sys; " + "; ".join(prelude) + f"; sys.argv = [{module!r}, *{argv!r}];"
            f" runpy.run_module({module!r}, run_name='__main__')",
        ]
    base = f"http://127.0.0.1:{port}"
    return Process(f"{kind}-{index}", command, f"{base}/healthz", env), base


def fake_google(env: dict[str, str], users: int) -> tuple[subprocess.Popen[str], dict]:
    """``bench/fake_google.py``; returns the process and what it printed (URL, tokens)."""
    process = subprocess.Popen(
        [sys.executable, "bench/fake_google.py", "--users", str(users)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(LOG_DIR / "fake_google.log").open("wb"),
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the fake Google API did not start; see " + str(LOG_DIR))
    return process, json.loads(line)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
