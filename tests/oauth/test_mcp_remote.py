"""mcp-remote, the stdio bridge Claude Desktop runs for a remote MCP server, against a virtual
server with no token configured: it discovers vmcp's authorization server from the 401,
registers (DCR), opens the "browser" (``BROWSER``, our headless one signs the user in), and
then lists and calls the server's tools over stdio."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.conftest import BASE_DIR, free_port

BRIDGE_DIR = Path(__file__).resolve().parent / "mcp-remote"


def ensure_bridge_installed() -> Path:
    proxy = BRIDGE_DIR / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
    if not proxy.is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the mcp-remote check (node >= 20)"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=BRIDGE_DIR, check=True, timeout=300
        )
    return proxy


class StdioPeer:
    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, message: dict[str, Any]) -> None:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def reply(self, request_id: int, timeout: float = 90) -> dict[str, Any]:
        while True:
            message = json.loads(self.lines.get(timeout=timeout))
            if message.get("id") == request_id:
                return message


def test_mcp_remote_signs_in_with_no_token_and_calls_the_tools(oauth_live, tmp_path):
    proxy = ensure_bridge_installed()
    callback_port = free_port()
    browser = tmp_path / "browser"
    browser.write_text(
        "#!/bin/sh\n"
        f'cd {BASE_DIR} && exec "{sys.executable}" -m tests.oauth.browser_cli jill '
        f'"http://localhost:{callback_port}/" "$1" >> "{tmp_path}/browser.log" 2>&1 &\n'
    )
    browser.chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"}
    }
    env.update(
        {
            "BROWSER": str(browser),
            "MCP_REMOTE_CONFIG_DIR": str(tmp_path / "mcp-auth"),
            "XDG_CURRENT_DESKTOP": "",
        }
    )
    stderr = (tmp_path / "mcp-remote.log").open("w")
    process = subprocess.Popen(
        [
            "node",
            str(proxy),
            oauth_live.mcp_url("acme/summarizer"),
            str(callback_port),
            "--allow-http",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        peer = StdioPeer(process)
        peer.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "claude-desktop-stand-in", "version": "1"},
                },
            }
        )
        try:
            initialized = peer.reply(1)
        except queue.Empty:
            raise AssertionError(
                (tmp_path / "mcp-remote.log").read_text()[-3000:]
                + "\n--- browser ---\n"
                + (
                    (tmp_path / "browser.log").read_text()
                    if (tmp_path / "browser.log").exists()
                    else ""
                )
            ) from None
        assert "result" in initialized, initialized
        peer.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        peer.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
        tools = [t["name"] for t in peer.reply(2)["result"]["tools"]]
        assert tools == ["echo", "demo_add"]
        peer.send(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "demo_add", "arguments": {"a": 20, "b": 22}},
            }
        )
        assert peer.reply(3)["result"]["structuredContent"] == {"sum": 42}
        assert "delivered" in (tmp_path / "browser.log").read_text()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        stderr.close()
