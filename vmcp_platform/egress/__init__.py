"""Every request that leaves vmcp goes through this package.

- ``ssrf``: the address rules (public unicast only, unless the host is in
  ``VMCP_SSRF_ALLOWED_HOSTS``) and ``check_url``, the save-time check of a URL field.
- ``backends``: network backends that apply the rules to the resolved address at connect time,
  for httpx (async and sync) and httpx2, and the guarded transports built on them.
- ``clients``: the bounded, redirect-free, proxy-free httpx clients of provider calls (async)
  and OAuth token, refresh and revoke requests (sync).
- ``upstream``: the httpx2 client of the ``mcp`` SDK for upstream MCP servers.

Nothing else in the code base creates an HTTP client or calls a module-level request function;
``tests/egress/test_egress_inventory.py`` keeps it so. It sits in ``vmcp_platform`` so every app
can import it without importing upward.
"""

from .backends import EgressRefused, refusal_of
from .clients import (
    FetchFailed,
    ResponseTooLarge,
    call_timeout,
    fetch_bytes,
    http_client,
    sync_client,
)
from .ssrf import UnsafeUrl, check_url
from .upstream import upstream_client

__all__ = [
    "EgressRefused",
    "FetchFailed",
    "ResponseTooLarge",
    "UnsafeUrl",
    "call_timeout",
    "check_url",
    "fetch_bytes",
    "http_client",
    "refusal_of",
    "sync_client",
    "upstream_client",
]
