"""The SSRF guard: upstream URLs must be http(s) and resolve only to public addresses, checked
when saved and again on every connection (so DNS changes and redirects are caught too)."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import httpx2
import pytest
from django.test import override_settings

from tests.upstream.plugin import upstream_mcp  # noqa: F401
from vmcp_platform.egress.backends import guarded_httpx2_transport, guarded_httpx_transport
from vmcp_platform.egress.ssrf import UnsafeUrl, check_url, is_public_address

NOTHING_ALLOWED = override_settings(VMCP_SSRF_ALLOWED_HOSTS=[])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/mcp",
        "http://10.1.2.3/mcp",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8000/mcp",
        "http://[::ffff:127.0.0.1]/mcp",
        "http://[fd00:ec2::254]/",
        "http://2130706433/mcp",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/mcp",
        "http://localhost:8000/mcp",  # a name resolving to loopback
        "file:///etc/passwd",
        "gopher://example.com/",
        "ftp://example.com/",
        "http://user:pw@example.com/mcp",
        "//example.com/mcp",
        "not a url",
    ],
)
def test_unsafe_urls_are_refused_when_nothing_is_allowed(url):
    with NOTHING_ALLOWED, pytest.raises(UnsafeUrl):
        check_url(url, field="server_url")


def test_operator_allow_list_lets_listed_hosts_through():
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1", "localhost"]):
        check_url("http://127.0.0.1:9/mcp", field="server_url")
        check_url("http://LOCALHOST:9/mcp", field="server_url")
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1"]), pytest.raises(UnsafeUrl):
        check_url("http://localhost:9/mcp", field="server_url")


def test_api_refuses_to_save_an_internal_server_url(acme_api):
    with NOTHING_ALLOWED:
        for url in ("http://127.0.0.1:1/mcp", "http://169.254.169.254/", "file:///etc/passwd"):
            response = acme_api.post(
                "/t/acme/api/v1/connections",
                {
                    "name": "internal",
                    "connector": "mcp",
                    "auth_type": "none",
                    "settings": {"server_url": url},
                },
                format="json",
            )
            assert response.status_code == 400, url
            assert response.json()["error"]["code"] == "unsafe_url"


async def test_transport_rechecks_the_resolved_address_on_connect(upstream_mcp):  # noqa: F811
    # "localhost" passed no check here; the transport resolves it itself and refuses.
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=[]):
        async with httpx2.AsyncClient(transport=guarded_httpx2_transport()) as client:
            with pytest.raises(httpx2.ConnectError, match="non-public address"):
                await client.get(upstream_mcp.url_with_host("localhost"))
        async with httpx.AsyncClient(transport=guarded_httpx_transport()) as client:
            with pytest.raises(httpx.ConnectError, match="non-public address"):
                await client.get(upstream_mcp.url_with_host("localhost"))
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["localhost"]):
        async with httpx2.AsyncClient(transport=guarded_httpx2_transport()) as client:
            response = await client.get(upstream_mcp.url_with_host("localhost"))
            assert response.status_code != 0  # it connected


@pytest.fixture
def redirector() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that redirects every request to ``target[0]``."""
    target: list[str] = [""]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", target[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", target
    finally:
        server.shutdown()
        server.server_close()


async def test_a_redirect_to_a_refused_host_is_refused_at_connect_time(redirector):
    url, target = redirector
    port = url.rsplit(":", 1)[1].strip("/")
    target[0] = f"http://localhost:{port}/elsewhere"
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1"]):
        async with httpx2.AsyncClient(
            transport=guarded_httpx2_transport(), follow_redirects=True
        ) as client:
            with pytest.raises(httpx2.ConnectError, match="non-public address"):
                await client.get(url)
