"""Headless Chromium (Debian's ``chromium`` package) driven by the ``playwright`` package.

The browser is never downloaded by Playwright: it must be installed by the system
(``apt-get install -y chromium``); ``VMCP_CHROMIUM`` points elsewhere if needed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR, free_port, run_daphne
from tests.fakes.plugin import fake_providers, fake_providers_server  # noqa: F401

SCREENSHOTS = BASE_DIR / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives a real browser against a real server")


def chromium_path() -> str:
    path = os.environ.get("VMCP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError(
            "The end-to-end tests need Debian's chromium: apt-get install -y chromium "
            "(or set VMCP_CHROMIUM to a Chromium binary)."
        )
    return path


@pytest.fixture
def e2e_server(django_db_blocker) -> Iterator[str]:  # noqa: ANN001
    """The real ASGI app under daphne whose PUBLIC_BASE_URL is its own address, so OAuth
    redirects and MCP URLs shown in the dashboard point back at it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "PUBLIC_BASE_URL": base_url,
        "CSRF_TRUSTED_ORIGINS": base_url,
        "VMCP_ALLOWED_ORIGINS": base_url,
    }
    with django_db_blocker.unblock(), run_daphne(port, extra_env=env) as url:
        yield url


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A fresh Chromium (own profile) with one page; clipboard readable for copy buttons."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="vmcp-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=chromium_path(),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1360, "height": 900},
            )
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            context.set_default_timeout(15_000)
            try:
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shoot() -> object:
    """``shoot(page, "name")`` writes test-artifacts/screenshots/name.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:  # noqa: ANN001
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
