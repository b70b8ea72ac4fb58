"""``GET /metrics``: answered in front of the Django app, before Host validation and tenants.

Probes and Prometheus address pods by IP, so their ``Host`` is rarely in ``ALLOWED_HOSTS``;
the endpoint is therefore served by this ASGI wrapper (``vmcp_platform.asgi``) and never
reaches Django, the tenant middleware or the failed-authentication throttle
(``vmcp_platform.authfail``): a scraper with a stale token gets 401s, never a lock-out, and a
flood of wrong tokens costs one constant-time compare each, no Redis and no database.

Protection: with ``VMCP_METRICS_TOKEN`` set, ``Authorization: Bearer <token>`` is required
(``hmac.compare_digest``). Unset, only a request from a loopback peer *without* forwarding
headers (``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``) is answered: behind a proxy on
the same host every peer is loopback, and such a request is not local. Refusals are JSON in
the API's error shape (401 without/with a wrong token, 403 not loopback).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from typing import Any

from . import metrics

PATH = "/metrics"
_FORWARDING = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


def _token() -> str:
    from django.conf import settings

    return str(getattr(settings, "VMCP_METRICS_TOKEN", "") or "")


def _is_loopback(scope: dict[str, Any]) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(str(client[0]).strip("[]")).is_loopback
    except ValueError:
        return False


def _refusal(scope: dict[str, Any]) -> tuple[int, str, str] | None:
    headers = dict(scope.get("headers", []))
    expected = _token()
    if expected:
        sent = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), expected.encode()
        ):
            return None
        return 401, "unauthorized", "Send the metrics token: Authorization: Bearer <token>."
    if _is_loopback(scope) and not any(name in headers for name in _FORWARDING):
        return None
    return 403, "forbidden", "Metrics are served to loopback only unless VMCP_METRICS_TOKEN is set."


async def _send(send: Any, status: int, body: bytes, content_type: str, extra: list) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MetricsEndpoint:
    """Serves ``/metrics``; every other request goes to ``inner`` untouched."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != PATH:
            return await self.inner(scope, receive, send)
        if scope.get("method") not in ("GET", "HEAD"):
            error = {"code": "method_not_allowed", "message": "Use GET.", "details": {}}
            body = json.dumps({"error": error}).encode()
            return await _send(send, 405, body, "application/json", [(b"allow", b"GET, HEAD")])
        refused = _refusal(scope)
        if refused is not None:
            status, code, message = refused
            body = json.dumps({"error": {"code": code, "message": message, "details": {}}})
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            return await _send(send, status, body.encode(), "application/json", extra)
        # Multiprocess mode reads one file per process: off the event loop.
        body, content_type = await asyncio.get_running_loop().run_in_executor(
            None, metrics.exposition
        )
        await _send(send, 200, b"" if scope["method"] == "HEAD" else body, content_type, [])
