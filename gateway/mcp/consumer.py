"""The MCP Streamable HTTP endpoint: one Channels consumer for both protocol revisions.

Each request goes through the same gate (Host, Origin, bearer token), then is classified:

* ``MCP-Protocol-Version`` naming a version outside the handshake era → the stateless
  2026-07-28 wire: the envelope in ``params._meta`` and the ``Mcp-Method``/``Mcp-Name``
  headers are checked against each other, no session; GET/DELETE are 405.
* ``initialize``, or a request carrying ``Mcp-Session-Id`` → the session-based 2025-11-25
  wire, with the session in Redis (``sessions``).

Both hand the JSON-RPC request to ``dispatcher.dispatch``. Responses are ``application/json``,
or ``text/event-stream`` when the request asked for progress/logs (and accepts SSE), when
the client accepts only SSE, for the legacy GET notification stream, and for
``subscriptions/listen``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.utils import await_many_dispatch
from mcp.shared.inbound import (
    classify_inbound_request,
    find_duplicated_routing_header,
    unsupported_protocol_version_rejection,
)

from vmcp_platform.errors import AuthenticationFailed, ServiceUnavailable

from . import sessions, streams
from .dispatcher import (
    HANDSHAKE_VERSIONS,
    MODERN_VERSIONS,
    SUPPORTED_VERSIONS,
    Principal,
    RequestContext,
    dispatch,
    initialize_result,
    negotiate_version,
)
from .http import (
    Headers,
    accepts,
    authenticate,
    bearer_token,
    host_is_allowed,
    origin_is_allowed,
    resource_metadata_url,
)
from .jsonrpc import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MODERN_ERROR_STATUS,
    SERVICE_UNAVAILABLE,
    UNSUPPORTED_PROTOCOL_VERSION,
    JsonRpcError,
    Message,
    dumps,
    error_message,
    notification_message,
    parse_message,
    result_message,
    sse_event,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
SUBSCRIPTION_ID_META_KEY = "io.modelcontextprotocol/subscriptionId"
# When a legacy request has no MCP-Protocol-Version header the spec says assume this one.
DEFAULT_LEGACY_VERSION = "2025-03-26"

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


class HttpRefusal(Exception):
    """Ends the request with an HTTP status (and a JSON-RPC-shaped body unless 202/204/405)."""

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        code: int = INVALID_REQUEST,
        request_id: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = JsonRpcError(code, message, data)
        self.request_id = request_id
        self.headers = headers or {}


class McpConsumer(AsyncHttpConsumer):
    """``/t/<tenant>/mcp/<config_id>`` (with or without the trailing slash)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # No channel layer per request: only streams need one, and they open their own
        # (``streams.run_stream``), so a plain POST never waits on Redis pub/sub.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self._receive = receive
        self._body_size = 0
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass

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
        try:
            await self._handle(body)
        except HttpRefusal as refusal:
            await self._send_refusal(refusal)
        except ServiceUnavailable as exc:
            await self._send_refusal(
                HttpRefusal(
                    503, exc.message, code=SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
                )
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

    async def _authenticate(self) -> Principal:
        try:
            uuid.UUID(str(self.config_id))
        except ValueError:
            raise HttpRefusal(404, "Not found: no such MCP server") from None
        secret = bearer_token(self.headers)
        challenge = (
            f'Bearer resource_metadata="{resource_metadata_url(self.tenant.slug, self.config_id)}"'
        )
        if secret is None:
            raise HttpRefusal(
                401,
                "Unauthorized: send the session token in the Authorization header (Bearer)",
                headers={"WWW-Authenticate": challenge},
            )
        try:
            return await sync_to_async(authenticate)(self.tenant, self.config_id, secret)
        except AuthenticationFailed:
            raise HttpRefusal(
                401,
                "Unauthorized: the session token is invalid, expired, revoked "
                "or not for this server",
                headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
            ) from None

    # ------------------------------------------------------------ POST

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
        self.wants_json, self.wants_sse = wants_json, wants_sse
        version_header = self.headers.get(VERSION_HEADER)
        session_id = self.headers.get(SESSION_HEADER)
        if version_header is not None and version_header not in HANDSHAKE_VERSIONS:
            await self._post_modern(message)
        elif message.is_request and message.method == "initialize":
            await self._initialize(message)
        elif session_id is not None:
            await self._post_legacy(message, session_id)
        elif version_header is None and _has_modern_envelope(message):
            await self._post_modern(message)
        else:
            raise HttpRefusal(
                400,
                "Bad request: missing Mcp-Session-Id (send initialize first, or use the "
                "2026-07-28 per-request envelope)",
                request_id=message.id,
            )

    async def _post_modern(self, message: Message) -> None:
        version_header = self.headers.get(VERSION_HEADER) or ""
        if message.is_notification or message.is_response:
            if message.is_response:
                raise HttpRefusal(400, "Invalid request: responses are not accepted here")
            rejection = unsupported_protocol_version_rejection(version_header, MODERN_VERSIONS)
            if rejection is not None:
                raise _unsupported(version_header, None)
            await self._send_empty(202)
            return
        duplicated = find_duplicated_routing_header(self.headers.raw)
        if duplicated is not None:
            raise HttpRefusal(
                400,
                f"{duplicated} header appears more than once",
                code=HEADER_MISMATCH,
                request_id=message.id,
            )
        verdict = classify_inbound_request(
            message.raw, headers=self.headers.map, supported_modern_versions=MODERN_VERSIONS
        )
        if not hasattr(verdict, "protocol_version"):
            if verdict.code == UNSUPPORTED_PROTOCOL_VERSION:
                raise _unsupported(_requested_version(message, version_header), message.id)
            raise HttpRefusal(
                MODERN_ERROR_STATUS.get(verdict.code, 400),
                verdict.message,
                code=verdict.code,
                request_id=message.id,
                data=verdict.data,
            )
        params = message.params
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        ctx = RequestContext(
            principal=self.principal,
            protocol_version=verdict.protocol_version,
            modern=True,
            request_id=message.id,
            client_capabilities=_as_dict(verdict.client_capabilities),
            client_info=_as_dict(verdict.client_info),
            log_level=meta.get("io.modelcontextprotocol/logLevel"),
        )
        if message.method == "subscriptions/listen":
            await self._listen(message, ctx)
            return
        if message.method == "tools/call":
            await self._check_param_headers(message)
        await self._respond(message, ctx, headers={})

    async def _check_param_headers(self, message: Message) -> None:
        """``Mcp-Param-*`` headers mirrored from arguments must agree with the body."""
        if not any(key.startswith("mcp-param-") for key, _ in self.headers.raw):
            return
        from mcp.shared.inbound import validate_mcp_param_headers

        from .dispatcher import _lookup_tool

        name = message.params.get("name")
        arguments = message.params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return
        exposed = await sync_to_async(_lookup_tool)(self.principal, name)
        if exposed is None:
            return
        rejection = validate_mcp_param_headers(
            exposed.definition.get("inputSchema"), arguments, self.headers.map
        )
        if rejection is not None:
            raise HttpRefusal(400, rejection.message, code=rejection.code, request_id=message.id)

    async def _initialize(self, message: Message) -> None:
        params = message.params
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise HttpRefusal(
                400,
                "Invalid params: protocolVersion is required",
                code=INVALID_PARAMS,
                request_id=message.id,
            )
        session = await sessions.session_create(
            tenant_schema=self.tenant.schema_name,
            config_id=self.principal.config_id,
            identifier=self.principal.identifier,
            protocol_version=negotiate_version(requested),
            client_capabilities=_as_dict(params.get("capabilities")),
            client_info=_as_dict(params.get("clientInfo")),
        )
        result = initialize_result(self.principal, requested)
        await self._send_result(message.id, result, {"Mcp-Session-Id": session.id})

    async def _session_for(self, session_id: str, request_id: Any = None) -> sessions.McpSession:
        session = await sessions.session_get(session_id)
        # Another user's (or config's, or tenant's) session does not exist for this caller:
        # 404, the same answer as an expired id, so nothing is learnt about other sessions.
        if session is None or not session.belongs_to(
            tenant_schema=self.tenant.schema_name,
            config_id=self.principal.config_id,
            identifier=self.principal.identifier,
        ):
            raise HttpRefusal(404, "Not found: unknown or expired session", request_id=request_id)
        return session

    async def _post_legacy(self, message: Message, session_id: str) -> None:
        session = await self._session_for(session_id, message.id)
        version = self.headers.get(VERSION_HEADER) or DEFAULT_LEGACY_VERSION
        if version not in HANDSHAKE_VERSIONS:
            raise _unsupported(version, message.id)
        session_headers = {"Mcp-Session-Id": session.id}
        if not message.is_request:
            # Notifications (initialized, cancelled, …) and responses: accepted, nothing to say.
            await self._send_empty(202, session_headers)
            return
        ctx = RequestContext(
            principal=self.principal,
            protocol_version=version,
            modern=False,
            request_id=message.id,
            client_capabilities=session.client_capabilities,
            client_info=session.client_info,
            log_level=session.log_level,
            session_id=session.id,
        )
        await self._respond(message, ctx, headers=session_headers)
        if message.method == "logging/setLevel" and ctx.log_level != session.log_level:
            session.log_level = ctx.log_level
            await sessions.session_update(session)

    async def _respond(
        self, message: Message, ctx: RequestContext, headers: dict[str, str]
    ) -> None:
        """Dispatch; stream as SSE when the call reports progress/logs or SSE is all it takes."""
        meta = message.params.get("_meta") if isinstance(message.params.get("_meta"), dict) else {}
        streams_notifications = message.method == "tools/call" and (
            meta.get("progressToken") is not None or ctx.log_level is not None
        )
        if self.wants_sse and (streams_notifications or not self.wants_json):
            await self._respond_sse(message, ctx, headers)
            return
        try:
            result = await dispatch(message.method, message.params, ctx)
        except JsonRpcError as exc:
            status = MODERN_ERROR_STATUS.get(exc.code, 200) if ctx.modern else 200
            await self._send_json(status, error_message(message.id, exc), headers)
            return
        await self._send_json(200, result_message(message.id, result), headers)

    async def _respond_sse(
        self, message: Message, ctx: RequestContext, headers: dict[str, str]
    ) -> None:
        started = False

        async def start() -> None:
            nonlocal started
            if not started:
                started = True
                await self.send_headers(status=200, headers=_SSE_HEADERS + _encode(headers))

        async def notify(notification: dict[str, Any]) -> None:
            await start()
            await self.send_body(sse_event(notification), more_body=True)

        ctx.notify = notify
        try:
            result = await dispatch(message.method, message.params, ctx)
            reply = result_message(message.id, result)
        except JsonRpcError as exc:
            if not started and ctx.modern:
                # Nothing streamed yet: a plain JSON error with the spec's HTTP status.
                status = MODERN_ERROR_STATUS.get(exc.code, 200)
                await self._send_json(status, error_message(message.id, exc), headers)
                return
            reply = error_message(message.id, exc)
        await start()
        await self.send_body(sse_event(reply), more_body=False)

    # ------------------------------------------------------------ streams

    async def _listen(self, message: Message, ctx: RequestContext) -> None:
        """2026-07-28 ``subscriptions/listen``: the response is the notification stream."""
        if not self.wants_sse:
            raise HttpRefusal(406, "Not acceptable: subscriptions/listen needs text/event-stream")
        requested = message.params.get("notifications")
        requested = requested if isinstance(requested, dict) else {}
        honored = {"toolsListChanged": True} if requested.get("toolsListChanged") is True else {}
        sub_meta = {SUBSCRIPTION_ID_META_KEY: message.id}
        ack = notification_message(
            "notifications/subscriptions/acknowledged",
            {"notifications": honored, "_meta": sub_meta},
        )

        def frame_for(event: dict[str, Any]) -> bytes | None:
            if event.get("type") == streams.TOOLS_CHANGED and honored.get("toolsListChanged"):
                return sse_event(
                    notification_message("notifications/tools/list_changed", {"_meta": sub_meta})
                )
            return None

        await streams.run_stream(
            send=self.send,
            receive=self._receive,
            headers=_SSE_HEADERS,
            groups=self._stream_groups(),
            first_frames=[sse_event(ack)],
            frame_for=frame_for,
            still_valid=self._token_still_valid,
            final_frame=lambda: sse_event(
                result_message(message.id, {"_meta": sub_meta, "resultType": "complete"})
            ),
        )
        raise StopConsumer()

    async def _get(self) -> None:
        """2025-11-25 GET: the session's stream of server notifications."""
        session_id = self.headers.get(SESSION_HEADER)
        version = self.headers.get(VERSION_HEADER)
        if session_id is None:
            if version is not None and version not in HANDSHAKE_VERSIONS:
                raise HttpRefusal(405, "Method not allowed", headers={"Allow": "POST"})
            raise HttpRefusal(400, "Bad request: missing Mcp-Session-Id")
        _, wants_sse = accepts(self.headers)
        if not wants_sse:
            raise HttpRefusal(406, "Not acceptable: the stream is text/event-stream")
        session = await self._session_for(session_id)

        def frame_for(event: dict[str, Any]) -> bytes | None:
            if event.get("type") == streams.TOOLS_CHANGED:
                return sse_event(notification_message("notifications/tools/list_changed"))
            return None

        async def still_valid() -> bool:
            # Keeps the session alive while its stream is open, and ends the stream when the
            # session was deleted (DELETE from any process) or the token stopped being valid.
            if await sessions.session_get(session.id) is None:
                return False
            return await self._token_still_valid()

        await streams.run_stream(
            send=self.send,
            receive=self._receive,
            headers=_SSE_HEADERS + _encode({"Mcp-Session-Id": session.id}),
            groups=self._stream_groups(),
            first_frames=[],
            frame_for=frame_for,
            still_valid=still_valid,
        )
        raise StopConsumer()

    def _stream_groups(self) -> list[str]:
        schema = self.tenant.schema_name
        return [
            streams.config_group(schema, self.principal.config_id),
            streams.token_group(schema, self.principal.token_id),
        ]

    async def _token_still_valid(self) -> bool:
        secret = bearer_token(self.headers) or ""
        try:
            principal = await sync_to_async(authenticate)(self.tenant, self.config_id, secret)
        except AuthenticationFailed:
            return False
        except ServiceUnavailable:
            return True  # a blip of the database does not end every open stream
        return principal.token_id == self.principal.token_id

    async def _delete(self) -> None:
        session_id = self.headers.get(SESSION_HEADER)
        if session_id is None:
            version = self.headers.get(VERSION_HEADER)
            if version is not None and version not in HANDSHAKE_VERSIONS:
                raise HttpRefusal(405, "Method not allowed", headers={"Allow": "POST"})
            raise HttpRefusal(400, "Bad request: missing Mcp-Session-Id")
        session = await self._session_for(session_id)
        await sessions.session_delete(session.id)
        await self._send_empty(204)

    # ------------------------------------------------------------ writing

    async def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = dumps(payload)
        await self.send_response(
            status,
            body,
            headers=[(b"content-type", b"application/json"), *_encode(headers or {})],
        )

    async def _send_result(
        self, request_id: Any, result: dict[str, Any], headers: dict[str, str]
    ) -> None:
        reply = result_message(request_id, result)
        if self.wants_json:
            await self._send_json(200, reply, headers)
        else:
            await self.send_response(200, sse_event(reply), headers=_SSE_HEADERS + _encode(headers))

    async def _send_empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        await self.send_response(status, b"", headers=_encode(headers or {}))

    async def _send_refusal(self, refusal: HttpRefusal) -> None:
        if refusal.status == 405:
            await self._send_empty(405, refusal.headers)
            return
        await self._send_json(
            refusal.status, error_message(refusal.request_id, refusal.error), refusal.headers
        )


def _encode(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _has_modern_envelope(message: Message) -> bool:
    meta = message.params.get("_meta")
    return isinstance(meta, dict) and "io.modelcontextprotocol/protocolVersion" in meta


def _requested_version(message: Message, header: str) -> str:
    meta = message.params.get("_meta")
    value = meta.get("io.modelcontextprotocol/protocolVersion") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else header


def _unsupported(requested: str, request_id: Any) -> HttpRefusal:
    return HttpRefusal(
        400,
        "Unsupported protocol version",
        code=UNSUPPORTED_PROTOCOL_VERSION,
        request_id=request_id,
        data={"supported": list(SUPPORTED_VERSIONS), "requested": requested},
    )
