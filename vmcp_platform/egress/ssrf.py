"""The address rules of every request that leaves vmcp (the SSRF guard).

A URL is acceptable when its scheme is http(s), it carries no credentials, and every address its
host resolves to is public — unless the host is listed in ``settings.VMCP_SSRF_ALLOWED_HOSTS``,
the operator's one escape hatch (for every outbound request, not only upstream MCP servers).

``check_url`` is the save-time check of a URL field. Checking at save time is not enough (DNS can
change between the check and the request, DNS rebinding), so the clients in ``.clients`` and
``.upstream`` run every new TCP connection through ``resolve_checked`` / ``resolve_checked_sync``
(see ``.backends``) and connect to the address that was checked.
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
                # Not the address itself: that would let a tenant admin map internal names.
                f"{field}: {host} resolves to a non-public address; refusing to connect.",
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


def check_url(url: str, *, field: str) -> None:
    """Refuse a URL that is not http(s) or whose host is (or resolves to) non-public.

    Every URL field is resolved when saved (a provider endpoint vmcp cannot resolve is as
    useless as a refused one); ``UnsafeUrl.details["field"]`` names the field.
    """
    _, host, port = parse_http_url(url, field=field)
    if not is_host_allowed(host):
        resolve_checked_sync(host, port, field=field)


def resolve_checked_sync(host: str, port: int, *, field: str = "url") -> list[str]:
    """Resolve ``host`` (blocking) and return its addresses, refusing when any is non-public."""
    ip = _literal_ip(host)
    if ip is not None:
        return _check_addresses(host, [str(ip)], field=field)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"{field}: {host} does not resolve.", details={"field": field}) from None
    return _check_addresses(host, _sockaddrs(infos), field=field)


async def resolve_checked(host: str, port: int, *, field: str = "url") -> list[str]:
    """Resolve ``host`` and return its addresses, refusing when any is non-public."""
    ip = _literal_ip(host)
    if ip is not None:
        return _check_addresses(host, [str(ip)], field=field)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"{field}: {host} does not resolve.", details={"field": field}) from None
    return _check_addresses(host, _sockaddrs(infos), field=field)
