"""Each egress client checks the address it connects to, ignores proxy variables, does not
follow redirects and bounds what it reads: the provider client (async httpx), the OAuth client
(sync httpx) and the upstream-MCP client (httpx2, the ``mcp`` SDK's)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings

from tests.egress.loopback_support import Loopback, loopback  # noqa: F401
from vmcp_platform.egress import ResponseTooLarge, http_client, sync_client, upstream_client
from vmcp_platform.egress.ssrf import check_url

LOOPBACK_ONLY = override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1"])
NOTHING_ALLOWED = override_settings(VMCP_SSRF_ALLOWED_HOSTS=[])
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


async def _get_async(url: str) -> int:
    return (await http_client().get(url)).status_code


def _get_sync(url: str) -> int:
    return sync_client().get(url).status_code


async def _get_upstream(url: str) -> int:
    client, _ = upstream_client(headers={}, timeout=5)
    async with client:
        return (await client.get(url)).status_code


CONNECT_ERRORS = (httpx.ConnectError, httpx2.ConnectError)


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``rebind.test`` resolves to a public address until ``flip`` is called, then to loopback
    (what a hostile DNS server does between the save-time check and the request)."""
    answer = ["93.184.215.14"]
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer[0], int(port or 80)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return lambda address: answer.__setitem__(0, address)


async def test_every_async_client_refuses_a_loopback_name_at_connect_time(loopback):  # noqa: F811
    url = f"http://localhost:{loopback.port}/"
    with NOTHING_ALLOWED:
        with pytest.raises(CONNECT_ERRORS, match="non-public address"):
            await _get_async(url)
        with pytest.raises(CONNECT_ERRORS, match="non-public address"):
            await _get_upstream(url)
    assert loopback.seen == []


def test_the_sync_client_refuses_a_loopback_name_at_connect_time(loopback):  # noqa: F811
    with NOTHING_ALLOWED, pytest.raises(httpx.ConnectError, match="non-public address"):
        _get_sync(f"http://localhost:{loopback.port}/")
    assert loopback.seen == []


def test_dns_rebinding_after_the_save_time_check_does_not_reach_loopback(
    loopback, rebinding  # noqa: F811
):
    url = f"http://rebind.test:{loopback.port}/"
    with NOTHING_ALLOWED:
        check_url(url, field="token_url")  # public when saved
        rebinding("127.0.0.1")
        with pytest.raises(httpx.ConnectError, match="non-public address"):
            _get_sync(url)
    assert loopback.seen == []


async def test_dns_rebinding_is_caught_by_the_async_clients(loopback, rebinding):  # noqa: F811
    url = f"http://rebind.test:{loopback.port}/"
    rebinding("127.0.0.1")
    with NOTHING_ALLOWED:
        with pytest.raises(CONNECT_ERRORS, match="non-public address"):
            await _get_async(url)
        with pytest.raises(CONNECT_ERRORS, match="non-public address"):
            await _get_upstream(url)
    assert loopback.seen == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_proxy_variables_are_ignored_by_every_client(
    loopback, monkeypatch: pytest.MonkeyPatch  # noqa: F811
):
    # The "proxy" is the loopback listener; the target is a closed port.
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, f"http://127.0.0.1:{loopback.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = f"http://127.0.0.1:{_closed_port()}/"
    with httpx.Client() as plain:  # a client that trusts the environment uses the proxy...
        plain.get(target)
    assert len(loopback.seen) == 1
    loopback.seen.clear()

    with LOOPBACK_ONLY:  # ...ours connect directly, so the closed port refuses them
        with pytest.raises(httpx.ConnectError):
            _get_sync(target)
        with pytest.raises(httpx.ConnectError):
            async_to_sync(_get_async)(target)
        with pytest.raises(httpx2.ConnectError):
            async_to_sync(_get_upstream)(target)
    assert loopback.seen == []


def test_redirects_are_not_followed(loopback):  # noqa: F811

    loopback.redirect_to = f"http://127.0.0.1:{loopback.port}/elsewhere"
    start = f"http://127.0.0.1:{loopback.port}/start"
    with LOOPBACK_ONLY:
        assert _get_sync(start) == 302
        assert async_to_sync(_get_async)(start) == 302
        assert async_to_sync(_get_upstream)(start) == 302
    assert [s.path for s in loopback.seen] == ["/start"] * 3


def test_the_sync_client_bounds_the_response_size(loopback):  # noqa: F811
    with LOOPBACK_ONLY, override_settings(VMCP_MAX_PROVIDER_RESPONSE_BYTES=10):
        with pytest.raises(ResponseTooLarge):
            _get_sync(f"http://127.0.0.1:{loopback.port}/")
    with LOOPBACK_ONLY:
        assert _get_sync(f"http://127.0.0.1:{loopback.port}/") == 200


def test_the_allow_list_is_the_one_escape_hatch(loopback):  # noqa: F811
    url = f"http://localhost:{loopback.port}/"
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["localhost"]):
        assert _get_sync(url) == 200
    assert len(loopback.seen) == 1


def test_no_client_inflates_a_compressed_response_it_did_not_ask_for(loopback):  # noqa: F811
    """The size bounds count received bytes and httpx inflates after them: a 20 KB gzip of
    20 MB would pass every bound. Every client asks for identity and refuses anything else."""
    loopback.gzip_bomb = True
    url = f"http://127.0.0.1:{loopback.port}/"
    with LOOPBACK_ONLY:
        with pytest.raises(ResponseTooLarge):
            _get_sync(url)
        with pytest.raises(ResponseTooLarge):
            async_to_sync(_get_async)(url)
        with pytest.raises(httpx2.ReadError):
            async_to_sync(_get_upstream)(url)
    assert [s.headers.get("Accept-Encoding") for s in loopback.seen] == ["identity"] * 3
