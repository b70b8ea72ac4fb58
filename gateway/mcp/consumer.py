"""The MCP Streamable HTTP endpoint: one Channels consumer for both protocol revisions.

Each request goes through the same gate (Host, Origin, bearer token), then is classified:

* ``MCP-Protocol-Version`` naming a version outside the handshake era → the stateless
  2026-07-28 wire (``modern.ModernWire``): the envelope in ``params._meta`` and the
  ``Mcp-Method``/``Mcp-Name`` headers are checked against each other, no session; GET/DELETE
  are 405.
* ``initialize``, or a request carrying ``Mcp-Session-Id`` → the session-based 2025-11-25
  wire (``legacy.LegacyWire``), with the session in Redis (``sessions``).

Both hand the JSON-RPC request to ``dispatcher.dispatch`` through ``_respond`` here. Responses
are ``application/json``, or ``text/event-stream`` when the request asked for progress/logs
(and accepts SSE), when the client accepts only SSE, for the legacy GET notification stream,
and for ``subscriptions/listen``.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.utils import await_many_dispatch
from django.db import InterfaceError, OperationalError

from gateway.warm.state import WarmAuth
from tenants.asgi import not_found as tenant_not_found
from vmcp_platform.errors import AuthenticationFailed, ServiceUnavailable
from vmcp_platform.observability import request as observed

from . import limits, relay, streams
from .dispatcher import HANDSHAKE_VERSIONS, RequestContext, dispatch
from .gate import RequestGate
from .http import Headers, accepts, authenticate, bearer_token, host_is_allowed, origin_is_allowed
from .jsonrpc import (
    INTERNAL_ERROR,
    MODERN_ERROR_STATUS,
    JsonRpcError,
    Message,
    error_message,
    parse_message,
    result_message,
    sse_event,
    unavailable,
)
from .legacy import LegacyWire
from .modern import ModernWire
from .replies import Replies, with_retry
from .wire import (
    MAX_BODY_BYTES,
    SESSION_HEADER,
    SSE_HEADERS,
    VERSION_HEADER,
    HttpRefusal,
    encode_headers,
    has_modern_envelope,
)

logger = logging.getLogger(__name__)


class McpConsumer(RequestGate, Replies, ModernWire, LegacyWire, AsyncHttpConsumer):
    """``/t/<tenant>/mcp/<config_id>`` (with or without the trailing slash)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # No channel layer per request: only streams need one, and they open their own
        # (``streams.run_stream``), so a plain POST never waits on Redis pub/sub.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self._receive = receive
        self._body_size = 0
        self._response_started = self._response_done = False
        self.stream_error: JsonRpcError | None = None
        self._request_id: Any = None
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch runs ``close_old_connections`` on the shared sync thread before
        # every message: a hop per request that the warm path (no Django connection) does not
        # need. The ORM paths do it themselves where they start (``tenants.asgi._lookup``,
        # ``http.authenticate``, ``run_db``).
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send(self, message: dict[str, Any]) -> None:
        # Every writer (responses and streams) ends here: know whether a status went out, so a
        # late failure is never answered with a second one.
        if message.get("type") == "http.response.start":
            self._response_started = True
        elif message.get("type") == "http.response.body" and not message.get("more_body"):
            self._response_done = True
        await super().send(message)

    async def http_request(self, message: dict[str, Any]) -> None:
        self._body_size += len(message.get("body", b""))
        if self._body_size > MAX_BODY_BYTES:
            await self._send_json(413, {"error": "request body too large"})
            raise StopConsumer()
        await super().http_request(message)

    # ------------------------------------------------------------ entry

    async def handle(self, body: bytes) -> None:
        self.headers = Headers(self.scope.get("headers", []))
        self.tenant = self.scope["tenant"]
        self.config_id = self.scope["url_route"]["kwargs"]["config_id"]
        self._warm: WarmAuth | AuthenticationFailed | None = None
        try:
            if self.tenant is None and not await self._resolve_tenant():
                await tenant_not_found(self.base_send)
                return
            observed.note_tenant(self.tenant.slug)  # only a tenant found in the database
            await self._handle(body)
        except StopConsumer:
            raise
        except HttpRefusal as refusal:
            await self._send_refusal(refusal)
        except ServiceUnavailable as exc:
            await self._send_unavailable(exc.message)
        except (OperationalError, InterfaceError):
            # The database went away somewhere no narrower handler expected it.
            logger.warning("MCP request failed: the database is unavailable", exc_info=True)
            await self._send_unavailable("The database is unavailable; try again shortly.")
        except Exception:
            # Never daphne's HTML 500: the agent gets a JSON-RPC error it can parse.
            logger.exception("MCP request failed unexpectedly")
            await self._send_late_refusal(
                HttpRefusal(500, "Internal error", code=INTERNAL_ERROR, request_id=self._request_id)
            )

    async def _handle(self, body: bytes) -> None:
        method = self.scope["method"]
        if method not in {"GET", "POST", "DELETE"}:
            raise HttpRefusal(405, "Method not allowed", headers={"Allow": "GET, POST, DELETE"})
        host = self.headers.get("host")
        if not host_is_allowed(host):
            raise HttpRefusal(421, "Misdirected request: unknown Host")
        if not origin_is_allowed(self.headers.get("origin"), host):
            raise HttpRefusal(403, "Forbidden: Origin not allowed")
        self.principal = await self._authenticate()
        if method == "POST":
            await self._post(body)
        elif method == "GET":
            await self._get()
        else:
            await self._delete()

    # ------------------------------------------------------------ POST: which wire

    async def _post(self, body: bytes) -> None:
        content_type = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HttpRefusal(415, "Unsupported media type: send application/json")
        wants_json, wants_sse = accepts(self.headers)
        if not wants_json and not wants_sse:
            raise HttpRefusal(406, "Not acceptable: accept application/json or text/event-stream")
        try:
            message = parse_message(body)
        except JsonRpcError as exc:
            raise HttpRefusal(400, exc.message, code=exc.code) from None
        self._request_id = message.id
        observed.note_request(method=message.method)
        self.wants_json, self.wants_sse = wants_json, wants_sse
        version_header = self.headers.get(VERSION_HEADER)
        session_id = self.headers.get(SESSION_HEADER)
        if version_header is not None and version_header not in HANDSHAKE_VERSIONS:
            await self._post_modern(message)
        elif message.is_request and message.method == "initialize":
            await self._initialize(message)
        elif session_id is not None:
            await self._post_legacy(message, session_id)
        elif version_header is None and has_modern_envelope(message):
            await self._post_modern(message)
        else:
            raise HttpRefusal(
                400,
                "Bad request: missing Mcp-Session-Id (send initialize first, or use the "
                "2026-07-28 per-request envelope)",
                request_id=message.id,
            )

    # ------------------------------------------------------------ dispatch (both wires)

    async def _respond(
        self, message: Message, ctx: RequestContext, headers: dict[str, str]
    ) -> None:
        """Dispatch; stream as SSE when the call reports progress/logs or SSE is all it takes."""
        observed.note_wire(ctx.modern)
        meta = message.params.get("_meta") if isinstance(message.params.get("_meta"), dict) else {}
        streams_notifications = message.method == "tools/call" and (
            meta.get("progressToken") is not None or ctx.log_level is not None
        )
        if self.wants_sse and (streams_notifications or not self.wants_json):
            async with self._stream_slot(message.id):
                await self._respond_sse(message, ctx, headers)
            return
        if self.wants_sse and self._may_relay(message, ctx):
            # The upstream may ask this client something mid-call: keep the stream to ask on,
            # started only if it does (a call that asked nothing is answered as plain JSON).
            # No stream slot: like a JSON call, it lasts no longer than the tool's timeout.
            await self._respond_sse(message, ctx, headers, lazy=True)
            return
        try:
            result = await dispatch(message.method, message.params, ctx)
        except JsonRpcError as exc:
            status = MODERN_ERROR_STATUS.get(exc.code, 200) if ctx.modern else 200
            await self._send_json(status, error_message(message.id, exc), with_retry(exc, headers))
            return
        await self._send_json(200, result_message(message.id, result), headers)

    def _may_relay(self, message: Message, ctx: RequestContext) -> bool:
        from connectors.mcp_relay import declared

        return (
            not ctx.modern
            and message.method == "tools/call"
            and ctx.session_id is not None
            and bool(declared(ctx.client_capabilities))
        )

    async def _respond_sse(
        self, message: Message, ctx: RequestContext, headers: dict[str, str], lazy: bool = False
    ) -> None:
        started = False

        async def start() -> None:
            nonlocal started
            if not started:
                started = True
                await self.send_headers(status=200, headers=SSE_HEADERS + encode_headers(headers))

        async def notify(notification: dict[str, Any]) -> None:
            await start()
            await self.send_body(sse_event(notification), more_body=True)

        ctx.notify = notify
        if self._may_relay(message, ctx):
            ctx.ask = self._asker(ctx, notify)
        try:
            result = await dispatch(message.method, message.params, ctx)
            reply = result_message(message.id, result)
        except JsonRpcError as exc:
            if not started and lazy:
                await self._send_json(200, error_message(message.id, exc), with_retry(exc, headers))
                return
            if not started and ctx.modern:
                # Nothing streamed yet: a plain JSON error with the spec's HTTP status.
                status = MODERN_ERROR_STATUS.get(exc.code, 200)
                await self._send_json(
                    status, error_message(message.id, exc), with_retry(exc, headers)
                )
                return
            reply = error_message(message.id, exc)
        if not started and lazy and self.wants_json:
            await self._send_json(200, reply, headers)
            return
        await start()
        await self.send_body(sse_event(reply), more_body=False)

    def _asker(self, ctx: RequestContext, notify: Any) -> Any:
        """``ctx.ask`` for this call: a request on its stream, the answer from any process."""
        from vmcp_platform.egress.clients import call_timeout

        session_id = ctx.session_id or ""

        async def ask(method: str, params: dict[str, Any]) -> dict[str, Any]:
            return await relay.ask(
                send=notify,
                session_id=session_id,
                method=method,
                params=params,
                timeout=call_timeout(),
            )

        return ask

    # ------------------------------------------------------------ streams (both wires)

    def _stream_slot(self, request_id: Any = None) -> Any:
        """One of the token's bounded stream slots (429 when they are all taken)."""
        return limits.stream_slot(self.principal, request_id)

    def _stream_groups(self) -> list[str]:
        schema = self.tenant.schema_name
        return [
            streams.config_group(schema, self.principal.config_id),
            streams.token_group(schema, self.principal.token_id),
        ]

    async def _token_still_valid(self) -> bool:
        """The stream's periodic check; fails closed: a database it cannot reach ends it.

        A stream that outlives a revocation it cannot see is a stream unchecked, so an
        unreachable database closes it (``stream_error`` says why, for the last event); the
        client reconnects once the database is back, and is checked again then.
        """
        secret = bearer_token(self.headers) or ""
        try:
            principal = await sync_to_async(authenticate)(self.tenant, self.config_id, secret)
        except AuthenticationFailed:
            return False
        except ServiceUnavailable as exc:
            logger.warning("closing an MCP stream: its token could not be re-checked")
            self.stream_error = unavailable(exc)
            return False
        return principal.token_id == self.principal.token_id

    # ------------------------------------------------------------ writing
