"""The session-based 2025-11-25 wire: ``initialize``, sessions in Redis, the GET stream, DELETE.

A mixin of ``McpConsumer``: it uses the consumer's request state (``headers``, ``tenant``,
``principal``) and its writers (``_respond``, ``_send_result``, ``_send_empty``, …).
"""

from __future__ import annotations

from typing import Any

from channels.exceptions import StopConsumer

from vmcp_platform.errors import RateLimited, ServiceUnavailable, ValidationFailed

from . import limits, relay, sessions, streams, subscriptions
from .dispatcher import HANDSHAKE_VERSIONS, RequestContext, initialize_result, negotiate_version
from .features import exposure_capabilities
from .http import accepts
from .jsonrpc import (
    INVALID_PARAMS,
    SERVICE_UNAVAILABLE,
    JsonRpcError,
    Message,
    notification_message,
    sse_event,
)
from .wire import (
    DEFAULT_LEGACY_VERSION,
    SESSION_HEADER,
    SSE_HEADERS,
    VERSION_HEADER,
    HttpRefusal,
    as_dict,
    encode_headers,
    unsupported,
)


class LegacyWire:
    """``initialize`` and session-bound POSTs, GET notification streams, DELETE."""

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
        await limits.handshake_allow(self.principal, message.id)
        try:
            # The raw objects: session_create refuses an oversize pair before keeping a bounded,
            # sanitised extract of them (capability flags; clientInfo name, version, title).
            session = await sessions.session_create(
                tenant_schema=self.tenant.schema_name,
                config_id=self.principal.config_id,
                identifier=self.principal.identifier,
                token_id=self.principal.token_id,
                protocol_version=negotiate_version(requested),
                client_capabilities=as_dict(params.get("capabilities")),
                client_info=as_dict(params.get("clientInfo")),
            )
        except ValidationFailed as exc:
            raise HttpRefusal(
                400, exc.message, code=INVALID_PARAMS, request_id=message.id, data=exc.details
            ) from None
        except RateLimited as exc:
            raise limits.rate_limit_refusal(exc, message.id) from None
        result = initialize_result(
            self.principal, requested, await exposure_capabilities(self.principal)
        )
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
            raise unsupported(version, message.id)
        session_headers = {"Mcp-Session-Id": session.id}
        if not message.is_request:
            # Notifications (initialized, cancelled, …) and responses: accepted, nothing to say.
            # A response may answer a request a call of this session relayed (``relay``).
            if message.is_response:
                await relay.deliver(session.id, message)
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
            if event.get("type") == subscriptions.RESOURCE_UPDATED:
                return subscriptions.updated_frame(event)
            return None

        async def still_valid() -> bool:
            # Keeps the session alive while its stream is open, and ends the stream when the
            # session was deleted (DELETE from any process) or the token stopped being valid.
            try:
                if await sessions.session_get(session.id) is None:
                    return False
            except ServiceUnavailable as exc:  # Redis down: fail closed, as for the database
                self.stream_error = JsonRpcError(SERVICE_UNAVAILABLE, exc.message)
                return False
            return await self._token_still_valid()

        async with self._stream_slot():
            await streams.run_stream(
                send=self.send,
                receive=self._receive,
                headers=SSE_HEADERS + encode_headers({"Mcp-Session-Id": session.id}),
                groups=[
                    *self._stream_groups(),
                    subscriptions.session_group(self.tenant.schema_name, session.id),
                ],
                first_frames=[],
                frame_for=frame_for,
                still_valid=still_valid,
                final_frame=self._legacy_stream_farewell,
            )
        raise StopConsumer()

    def _legacy_stream_farewell(self) -> bytes:
        # The GET stream carries no response to end with an error; a log notification tells
        # the client why the server closed it.
        if self.stream_error is None:
            return b""
        return sse_event(
            notification_message(
                "notifications/message",
                {
                    "level": "error",
                    "logger": "vmcp",
                    "data": {"error": self.stream_error.as_error(), "stream": "closed"},
                },
            )
        )

    async def _delete(self) -> None:
        session_id = self.headers.get(SESSION_HEADER)
        if session_id is None:
            version = self.headers.get(VERSION_HEADER)
            if version is not None and version not in HANDSHAKE_VERSIONS:
                raise HttpRefusal(405, "Method not allowed", headers={"Allow": "POST"})
            raise HttpRefusal(400, "Bad request: missing Mcp-Session-Id")
        session = await self._session_for(session_id)
        await sessions.session_delete(session)
        await self._send_empty(204)
