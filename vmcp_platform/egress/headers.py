"""Request headers the HTTP transport owns. Letting a tenant's configuration or an agent's
arguments set them would break or smuggle requests (``Host`` reaching another virtual host
behind an allowed ingress, ``Transfer-Encoding`` desynchronising a proxy)."""

from __future__ import annotations

TRANSPORT_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        "accept-encoding",
    }
)


def is_transport_header(name: str) -> bool:
    return name.strip().lower() in TRANSPORT_HEADERS
