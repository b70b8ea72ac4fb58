"""The FastMCP peer: its own virtualenv (built on first use), its process, and ``/proc`` readings.

fastmcp goes into ``var/bench/fastmcp-venv``, never into the project's venv: its dependency
pins would fight the ``mcp`` SDK the project pins. The virtualenv is built with
``python -m venv`` and ``pip install -r bench/peers/requirements.txt`` (fastmcp pinned) the first
time, and rebuilt when that file changes (a stamp holds the file's content).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from . import servers

VENV = servers.BASE_DIR / "var" / "bench" / "fastmcp-venv"
REQUIREMENTS = servers.BASE_DIR / "bench" / "peers" / "requirements.txt"
SCRIPT = "bench/peers/fastmcp_proxy.py"
STAMP = VENV / ".bench-requirements"


def ensure_venv(progress) -> Path:
    """The peer's interpreter; builds the virtualenv when missing or out of date."""
    python = VENV / "bin" / "python"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python
    progress(f"building the FastMCP peer's virtualenv ({VENV}; once, ~1 minute) …")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
        capture_output=True,
        text=True,
    )
    if pip.returncode:
        raise RuntimeError(f"pip install -r {REQUIREMENTS} failed:\n{pip.stderr[-3000:]}")
    STAMP.write_text(wanted)
    return python


def version(python: Path) -> str:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import fastmcp, mcp; from importlib.metadata import version;"
            " print(fastmcp.__version__, version('mcp'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    fastmcp_version, mcp_version = out.stdout.split()
    return f"fastmcp {fastmcp_version} (mcp {mcp_version})"


def fastmcp_proxy(
    python: Path, env: dict[str, str], *, upstream_url: str, tools: list[str]
) -> tuple[servers.Process, str, str]:
    """The peer process (not started), its MCP URL and the static bearer token it expects."""
    port = servers.free_port()
    token = secrets.token_urlsafe(24)
    token_file = VENV.parent / "fastmcp-token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    # The peer's own interpreter and site-packages only: no project path, no project venv.
    peer_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    url = f"http://127.0.0.1:{port}/mcp"
    command = [
        str(python),
        SCRIPT,
        "--port",
        str(port),
        "--upstream",
        upstream_url,
        "--tools",
        ",".join(tools),
        "--token-file",
        str(token_file),
    ]
    return servers.Process("fastmcp-peer", command, url, peer_env), url, token


# ---------------------------------------------------------------- /proc


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` so far (``/proc/<pid>/stat``, fields 14–15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mib(pid: int) -> dict[str, float]:
    """Resident set now and its peak (``VmRSS``, ``VmHWM`` in ``/proc/<pid>/status``)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[{"VmRSS": "rss_mib", "VmHWM": "peak_rss_mib"}[key]] = round(
                int(value.split()[0]) / 1024, 1
            )
    return out
