"""The live set-up of the OAuth tests: a real OpenID provider (oidc-provider, npm) on loopback
as the tenants' identity source, the real daphne app, committed tenants, and a headless
browser (an httpx client with a cookie jar) that signs a test user in and approves consent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

IDP_DIR = Path(__file__).resolve().parent / "idp"
IDP_CLIENT_SECRET = "idp-client-secret-for-tests"  # noqa: S105 - the loopback IdP's, not a real one


def ensure_idp_installed() -> None:
    """``npm ci`` into tests/oauth/idp once (node_modules is not committed)."""
    if (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed for the OAuth tests' OpenID provider (node >= 20)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=IDP_DIR, check=True, timeout=300)


@contextmanager
def run_idp(port: int, clients: list[dict[str, Any]]) -> Iterator[str]:
    ensure_idp_installed()
    env = {**os.environ, "PORT": str(port), "IDP_CLIENTS": json.dumps(clients)}
    process = subprocess.Popen(
        ["node", "server.js"],
        cwd=IDP_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the IdP exited: {process.stdout.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the IdP did not come up")
            time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class DocumentServer:
    """Serves client metadata documents (CIMD) on loopback: path → JSON."""

    host: str = "127.0.0.1"
    documents: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    requested: list[str] = field(default_factory=list)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


@contextmanager
def run_documents(bind: str = "127.0.0.1") -> Iterator[DocumentServer]:
    served = DocumentServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            served.requested.append(self.path)
            document = served.documents.get(self.path)
            if document is None:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((bind, 0), Handler)
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Browser:
    """A person's browser, headless: follows redirects by hand, keeps cookies, signs in."""

    login: str
    stop_at: str  # the client's redirect URI: the browser hands what arrives there over
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))
    pages: list[str] = field(default_factory=list)
    consent_html: str = ""
    # Called with the consent page's URL and HTML before deciding (e.g. to connect accounts).
    before_consent: Any = None

    async def _follow(self, response: httpx.Response) -> httpx.Response:
        for _ in range(20):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(self.stop_at):
                return response
            self.pages.append(target)
            response = await self.http.get(target)
        raise AssertionError("too many redirects")

    async def authorize(self, url: str, *, approve: bool = True) -> dict[str, str]:
        """Open the client's authorize URL, sign in at the IdP, decide consent; the parameters
        the client's redirect URI received (code, state, iss, or error)."""
        response = await self._follow(await self.http.get(url))
        if response.is_redirect:  # refused before sign-in: straight back to the client
            return _query(response)
        if response.headers.get("content-type", "").startswith("application/json"):
            raise AssertionError(f"authorize refused: {response.status_code} {response.text}")
        if "/interaction/" in str(response.url):
            uid = str(response.url).rstrip("/").rsplit("/", 1)[1]
            login_url = urljoin(str(response.url), f"/interaction/{uid}/login")
            response = await self._follow(
                await self.http.post(login_url, data={"login": self.login})
            )
        if response.is_redirect:
            return _query(response)
        assert "/oauth/consent/" in str(response.url), (response.status_code, response.text[:500])
        self.consent_html = response.text
        if self.before_consent is not None:
            await self.before_consent(self, str(response.url), response.text)
        return await self.decide(str(response.url), approve=approve)

    async def decide(self, consent_url: str, *, approve: bool) -> dict[str, str]:
        page = await self.http.get(consent_url)
        self.consent_html = page.text
        token = _CSRF.search(page.text)
        assert token, page.text[:500]
        response = await self.http.post(
            consent_url,
            data={
                "csrfmiddlewaretoken": token[1],
                "decision": "approve" if approve else "deny",
            },
            headers={"Referer": consent_url},
        )
        response = await self._follow(response)
        assert response.is_redirect, (response.status_code, response.text[:500])
        return _query(response)


_CONNECT_LINK = re.compile(r'<a href="([^"]+/connect/[^"]+)"[^>]*data-connection="([^"]+)"')


def connect_links(html: str) -> dict[str, str]:
    """The consent page's connect links: connection name → URL."""
    return {name: url.replace("&amp;", "&") for url, name in _CONNECT_LINK.findall(html)}


async def connect_with_api_key(browser: Browser, link: str, api_key: str) -> None:
    """Open a connect link in the same browser and paste the API key, as the user would."""
    page = await browser.http.get(link)
    token = _CSRF.search(page.text)
    assert page.status_code == 200 and token, page.text[:300]
    done = await browser.http.post(
        link, data={"csrfmiddlewaretoken": token[1], "api_key": api_key}, headers={"Referer": link}
    )
    assert done.status_code == 200, done.text[:300]


def _query(response: httpx.Response) -> dict[str, str]:
    location = urljoin(str(response.url), response.headers["location"])
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()} | {
        "_location": location
    }
