"""SSRF guard for URLs tenants configure (upstream MCP servers, overridden provider endpoints).

A URL is acceptable when its scheme is http(s), it carries no credentials, and every address its
host resolves to is public — unless the host is listed in ``settings.VMCP_SSRF_ALLOWED_HOSTS``.

Checking at save time is not enough: DNS can change between the check and the request (DNS
rebinding) and a redirect can point anywhere. So the HTTP clients used for upstream calls get a
network backend that resolves the host itself, checks every address, and connects to the checked
address (TLS still verifies the original host name). Every new TCP connection — including one
made for a redirect — goes through that check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from vmcp_platform.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges `is_global` lets through in some Python versions, or that deserve naming outright.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. the cloud metadata service 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local, incl. the AWS metadata service fd00:ec2::254
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ValidationFailed):
    """The URL points somewhere the platform must not connect to."""

    code = "unsafe_url"


def allowed_hosts() -> frozenset[str]:
    return frozenset(
        h.strip().lower().strip("[]") for h in settings.VMCP_SSRF_ALLOWED_HOSTS if h.strip()
    )


def is_host_allowed(host: str) -> bool:
    return host.lower().strip("[]") in allowed_hosts()


def is_public_address(ip: IPAddress) -> bool:
    """True only for globally routable unicast addresses (embedded IPv4 checked too)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(not is_public_address(inner) for inner in embedded):
            return False
    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def parse_http_url(url: str, *, field: str = "url") -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an absolute http(s) URL without credentials, or refuse."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise UnsafeUrl(f"{field} must be an absolute http(s) URL.", details={"field": field})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl(f"{field} is not a valid URL.", details={"field": field}) from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise UnsafeUrl(
            f"{field} must use http or https, not {scheme or 'no scheme'!r}.",
            details={"field": field},
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrl(f"{field} must include a host name.", details={"field": field})
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL would be stored and shown in clear; they belong in the vault.
        raise UnsafeUrl(
            f"{field} must not contain credentials; use a shared header instead.",
            details={"field": field},
        )
    if any(ch.isspace() for ch in url):
        raise UnsafeUrl(f"{field} must not contain whitespace.", details={"field": field})
    return scheme, host, port or (443 if scheme == "https" else 80)


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _check_addresses(host: str, addresses: Iterable[str], *, field: str) -> list[str]:
    checked: list[str] = []
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not is_public_address(ip):
            raise UnsafeUrl(
                f"{field}: {host} resolves to a non-public address ({ip}); refusing to connect.",
                details={"field": field, "host": host},
            )
        checked.append(str(ip))
    if not checked:
        raise UnsafeUrl(f"{field}: {host} does not resolve.", details={"field": field})
    return checked


def _sockaddrs(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    seen: list[str] = []
    for info in infos:
        address = info[4][0]
        if address not in seen:
            seen.append(address)
    return seen


def check_url(url: str, *, field: str = "server_url", resolve: bool = True) -> None:
    """Refuse a URL that is not http(s) or whose host is (or resolves to) non-public.

    ``resolve=False`` checks only the form and literal IP addresses (for URLs whose host may
    not be resolvable from here, such as a provider's endpoints).
    """
    _, host, port = parse_http_url(url, field=field)
    if is_host_allowed(host):
        return
    ip = _literal_ip(host)
    if ip is not None:
        _check_addresses(host, [str(ip)], field=field)
        return
    if not resolve:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"{field}: {host} does not resolve.", details={"field": field}) from None
    _check_addresses(host, _sockaddrs(infos), field=field)


async def resolve_checked(host: str, port: int, *, field: str = "server_url") -> list[str]:
    """Resolve ``host`` and return its addresses, refusing when any is non-public."""
    ip = _literal_ip(host)
    if ip is not None:
        return _check_addresses(host, [str(ip)], field=field)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"{field}: {host} does not resolve.", details={"field": field}) from None
    return _check_addresses(host, _sockaddrs(infos), field=field)


class _GuardedBackend:
    """Wraps an httpcore/httpcore2 network backend: resolve, check, connect to that address."""

    def __init__(self, inner: Any, connect_error: type[Exception]) -> None:
        self._inner = inner
        self._connect_error = connect_error

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        if is_host_allowed(host):
            addresses = [host]
        else:
            try:
                addresses = await resolve_checked(host, port)
            except UnsafeUrl as exc:
                # The client maps this to its ConnectError; the message names no secret.
                raise self._connect_error(exc.message) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except self._connect_error as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        raise self._connect_error("unix sockets are not allowed for upstream connections")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_httpx2_transport(**kwargs: Any) -> Any:
    """An ``httpx2.AsyncHTTPTransport`` (the ``mcp`` SDK's client) with the SSRF check per
    connection."""
    import httpcore2
    import httpx2

    transport = httpx2.AsyncHTTPTransport(trust_env=False, **kwargs)
    pool = transport._pool
    if not isinstance(pool, httpcore2.AsyncConnectionPool):  # a proxy would bypass the check
        raise RuntimeError("the SSRF guard needs a direct connection pool")
    pool._network_backend = _GuardedBackend(pool._network_backend, httpcore2.ConnectError)
    return transport


def guarded_httpx_transport(**kwargs: Any) -> Any:
    """The same guard for ``httpx.AsyncHTTPTransport`` (provider calls to overridden URLs)."""
    import httpcore
    import httpx

    transport = httpx.AsyncHTTPTransport(trust_env=False, **kwargs)
    pool = transport._pool
    if not isinstance(pool, httpcore.AsyncConnectionPool):
        raise RuntimeError("the SSRF guard needs a direct connection pool")
    pool._network_backend = _GuardedBackend(pool._network_backend, httpcore.ConnectError)
    return transport
