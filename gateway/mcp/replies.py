"""How ``McpConsumer`` answers: JSON bodies, refusals as JSON-RPC errors (never HTML), and
the late refusal that becomes a stream's last event once its headers went out. A mixin.
"""

from __future__ import annotations

from typing import Any

from tenants.asgi import RETRY_AFTER_SECONDS  # one wait for every 503 of the MCP endpoint

from .jsonrpc import (
    SERVICE_UNAVAILABLE,
    JsonRpcError,
    dumps,
    error_message,
    result_message,
    sse_event,
)
from .wire import SSE_HEADERS, HttpRefusal, encode_headers


def with_retry(exc: JsonRpcError, headers: dict[str, str]) -> dict[str, str]:
    if exc.code == SERVICE_UNAVAILABLE:
        return {**headers, "Retry-After": RETRY_AFTER_SECONDS}
    return headers


class Replies:
    """The sending half of ``McpConsumer``."""

    async def _send_unavailable(self, message: str) -> None:
        await self._send_late_refusal(
            HttpRefusal(
                503,
                message,
                code=SERVICE_UNAVAILABLE,
                request_id=self._request_id,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        )

    async def _send_late_refusal(self, refusal: HttpRefusal) -> None:
        if self._response_done:
            return
        if self._response_started:
            # A stream's headers already went out: the error is its last event.
            frame = sse_event(error_message(refusal.request_id, refusal.error))
            await self.send({"type": "http.response.body", "body": frame, "more_body": False})
            return
        await self._send_refusal(refusal)

    async def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = dumps(payload)
        await self.send_response(
            status,
            body,
            headers=[(b"content-type", b"application/json"), *encode_headers(headers or {})],
        )

    async def _send_result(
        self, request_id: Any, result: dict[str, Any], headers: dict[str, str]
    ) -> None:
        reply = result_message(request_id, result)
        if self.wants_json:
            await self._send_json(200, reply, headers)
        else:
            await self.send_response(
                200, sse_event(reply), headers=SSE_HEADERS + encode_headers(headers)
            )

    async def _send_empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        await self.send_response(status, b"", headers=encode_headers(headers or {}))

    async def _send_refusal(self, refusal: HttpRefusal) -> None:
        if refusal.status == 405:
            await self._send_empty(405, refusal.headers)
            return
        await self._send_json(
            refusal.status, error_message(refusal.request_id, refusal.error), refusal.headers
        )
