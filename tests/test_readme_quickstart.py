"""The README's quickstart, run as written against a live server: its shell block (an API key
from ``manage.py``), then its Python blocks in order in one namespace (the client library, then
the 2.x ``mcp`` SDK). The LangChain block needs the 1.x SDK, so it is compiled, not run."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import BASE_DIR, free_port, live_env, run_daphne

SECTION = "## A first tool call in two minutes"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.M | re.S)


def quickstart_blocks() -> list[tuple[str, str]]:
    readme = (BASE_DIR / "README.md").read_text()
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    return [(m[1].strip(), m[2]) for m in FENCE.finditer(readme[start:end])]


@pytest.fixture
def own_server(django_db_setup, django_db_blocker) -> Iterator[str]:  # noqa: ANN001
    # Its own daphne, so that the mcp_server_url the API hands out is this server's address.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with django_db_blocker.unblock(), run_daphne(port, {"PUBLIC_BASE_URL": base}) as url:
        yield url


def test_the_quickstart_runs_as_written(own_server, live_tenant, monkeypatch):
    blocks = quickstart_blocks()
    kinds = [kind for kind, _ in blocks]
    assert kinds.count("sh") == 1 and kinds.count("python") == 2, kinds
    assert kinds.count("python langchain") == 1, kinds

    def localise(code: str) -> str:
        return code.replace("http://127.0.0.1:8000", own_server).replace(
            'tenant="demo"', f'tenant="{live_tenant.slug}"'
        )

    [shell] = [code for kind, code in blocks if kind == "sh"]
    shell = shell.replace(".venv/bin/python", sys.executable).replace(
        "--tenant demo", f"--tenant {live_tenant.slug}"
    )
    made = subprocess.run(
        ["bash", "-c", shell + '\nprintf %s "$VMCP_API_KEY"'],
        cwd=BASE_DIR,
        env=live_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("vmcp_sk_"), made.stdout
    monkeypatch.setenv("VMCP_API_KEY", made.stdout)

    namespace: dict[str, object] = {"__name__": "__readme__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for kind, code in blocks:
            if kind == "python":
                exec(compile(localise(code), "README.md", "exec"), namespace)  # noqa: S102
    lines = printed.getvalue().splitlines()
    assert lines == ["True", "{'sum': 42}", "['demo_add']", "{'sum': 42}"], lines

    [langchain] = [code for kind, code in blocks if kind == "python langchain"]
    compile(langchain, "README.md", "exec")
    assert "MultiServerMCPClient" in langchain and '"streamable_http"' in langchain
    for kind, code in blocks:
        if kind == "json":
            assert "mcpServers" in json.loads(code)
