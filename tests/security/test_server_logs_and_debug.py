"""What the web server itself writes and shows: no token in its access log, no debug page.

A careless client may put a session token in a query string; daphne (and uvicorn) write the
request line to their access log themselves, outside Python logging's redacting filter. And the
README's run command must not serve Django's debug page, which shows settings, to anonymous
visitors.
"""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.conftest import BASE_DIR, _wait_for, free_port, live_env, run_daphne
from tests.egress.loopback_support import loopback  # noqa: F401

TOKEN = "vmcp_st_" + "Q" * 46


def _without_debug(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "DEBUG"} | {"PYTHONUNBUFFERED": "1"}


def _wait_for_text(path, text: str, timeout: float = 10) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.1)
    return path.read_text(errors="replace")


def test_daphne_access_log_redacts_tokens_in_query_strings(django_db_blocker):  # noqa: ANN001
    from tests.secret_scan import daphne_log_file

    port = free_port()
    with django_db_blocker.unblock(), run_daphne(port, extra_env={"PYTHONUNBUFFERED": "1"}) as url:
        httpx.get(f"{url}/healthz?access_token={TOKEN}&marker=one", timeout=5)
        httpx.get(f"{url}/t/nowhere/mcp/x?{TOKEN}&marker=two", timeout=5)
        log = _wait_for_text(daphne_log_file(port), "marker=two")
    assert "marker=one" in log and "marker=two" in log  # the access log is on, and was read
    assert TOKEN not in log
    assert "access_token=vmcp_st_[REDACTED]" in log


def test_uvicorn_access_log_redacts_tokens_in_query_strings(django_db_blocker, tmp_path):  # noqa: ANN001
    port = free_port()
    log_path = tmp_path / "uvicorn.log"
    with django_db_blocker.unblock(), log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--port", str(port)]
            + ["vmcp_platform.asgi:application"],
            cwd=BASE_DIR,
            env=_without_debug(live_env()),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/healthz", process)
            httpx.get(f"http://127.0.0.1:{port}/healthz?token={TOKEN}&marker=three", timeout=5)
            content = _wait_for_text(log_path, "marker=three")
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert "marker=three" in content
    assert TOKEN not in content
    assert "token=vmcp_st_[REDACTED]" in content


def test_the_platform_serves_no_debug_page_unless_asked(django_db_blocker):  # noqa: ANN001
    """A rejected Host or an unknown page gets a plain error page, not the debug page."""
    port = free_port()
    with django_db_blocker.unblock():
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-p", str(port), "vmcp_platform.asgi:application"],
            cwd=BASE_DIR,
            env=_without_debug(live_env()),  # what `make run` gives the web process
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/healthz", process)
            rejected_host = httpx.get(
                f"http://127.0.0.1:{port}/no-such-page/",
                headers={"Host": "attacker.example"},
                timeout=5,
            )
            unknown_page = httpx.get(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert (rejected_host.status_code, unknown_page.status_code) == (400, 404)
    for body in (rejected_host.text, unknown_page.text):
        # Every Django debug page says why it is shown; none may be.
        assert "DEBUG = True" not in body
        assert "DisallowedHost" not in body and "REDIS_URL" not in body


def test_outbound_request_urls_are_not_logged(loopback, caplog):  # noqa: F811
    """An OpenAPI document may place an API key in the query under any name (?key=, ?appid=),
    which no redaction pattern can know: the HTTP clients' request lines are not logged."""
    import logging

    from asgiref.sync import async_to_sync
    from django.test import override_settings

    from vmcp_platform.egress import http_client, sync_client

    async def get(url: str) -> int:
        return (await http_client().get(url)).status_code

    url = f"http://127.0.0.1:{loopback.port}/v1/things?appid=AIzaSECRETSECRETSECRET"
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1"]), caplog.at_level(logging.INFO):
        assert async_to_sync(get)(url) == 200
        assert sync_client().get(url).status_code == 200
    assert len(loopback.seen) == 2
    assert "AIzaSECRETSECRETSECRET" not in caplog.text
