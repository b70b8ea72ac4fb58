"""The stateless 2026-07-28 wire: the per-request envelope, its headers, ``subscriptions/listen``.

A mixin of ``McpConsumer``: it uses the consumer's request state (``headers``, ``principal``,
``wants_sse``) and its writers (``_respond``, ``_send_empty``, ``_token_still_valid``, …).
"""

from __future__ import annotations

import secrets
from typing import Any

from channels.exceptions import StopConsumer
from mcp.shared.inbound import (
    classify_inbound_request,
    find_duplicated_routing_header,
    unsupported_protocol_version_rejection,
)

from vmcp_platform.sanitize import wire_json

from . import limits, streams, subscribing, subscriptions
from .context import find_tool
from .dispatcher import MODERN_VERSIONS, RequestContext
from .jsonrpc import (
    HEADER_MISMATCH,
    MODERN_ERROR_STATUS,
    UNSUPPORTED_PROTOCOL_VERSION,
    Message,
    error_message,
    notification_message,
    result_message,
    sse_event,
)
from .wire import (
    SSE_HEADERS,
    SUBSCRIPTION_ID_META_KEY,
    VERSION_HEADER,
    HttpRefusal,
    as_dict,
    requested_version,
    unsupported,
)


class ModernWire:
    """POSTs on the 2026-07-28 wire (GET and DELETE are 405 there; see ``LegacyWire``)."""

    async def _post_modern(self, message: Message) -> None:
        version_header = self.headers.get(VERSION_HEADER) or ""
        if message.is_notification or message.is_response:
            if message.is_response:
                raise HttpRefusal(400, "Invalid request: responses are not accepted here")
            rejection = unsupported_protocol_version_rejection(version_header, MODERN_VERSIONS)
            if rejection is not None:
                raise unsupported(version_header, None)
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
                raise unsupported(requested_version(message, version_header), message.id)
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
            client_capabilities=as_dict(verdict.client_capabilities),
            client_info=wire_json(verdict.client_info),
            log_level=meta.get("io.modelcontextprotocol/logLevel"),
        )
        if message.method == "subscriptions/listen":
            await self._listen(message, ctx)
            return
        if message.method == "server/discover":
            await limits.handshake_allow(self.principal, message.id)
        if message.method == "tools/call":
            await self._check_param_headers(message)
        await self._respond(message, ctx, headers={})

    async def _check_param_headers(self, message: Message) -> None:
        """``Mcp-Param-*`` headers mirrored from arguments must agree with the body."""
        if not any(key.startswith("mcp-param-") for key, _ in self.headers.raw):
            return
        from mcp.shared.inbound import validate_mcp_param_headers

        name = message.params.get("name")
        arguments = message.params.get("arguments") or {}
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return
        exposed = await find_tool(self.principal, name)
        if exposed is None:
            return
        rejection = validate_mcp_param_headers(
            exposed.definition.get("inputSchema"), arguments, self.headers.map
        )
        if rejection is not None:
            raise HttpRefusal(400, rejection.message, code=rejection.code, request_id=message.id)

    async def _listen(self, message: Message, ctx: RequestContext) -> None:
        """2026-07-28 ``subscriptions/listen``: the response is the notification stream."""
        if not self.wants_sse:
            raise HttpRefusal(406, "Not acceptable: subscriptions/listen needs text/event-stream")
        requested = message.params.get("notifications")
        requested = requested if isinstance(requested, dict) else {}
        honored: dict[str, Any] = (
            {"toolsListChanged": True} if requested.get("toolsListChanged") is True else {}
        )
        sub_meta = {SUBSCRIPTION_ID_META_KEY: message.id}
        groups = self._stream_groups()

        def frame_for(event: dict[str, Any]) -> bytes | None:
            if event.get("type") == streams.TOOLS_CHANGED and honored.get("toolsListChanged"):
                return sse_event(
                    notification_message("notifications/tools/list_changed", {"_meta": sub_meta})
                )
            if event.get("type") == subscriptions.RESOURCE_UPDATED and watched:
                uri = event.get("uri")
                if isinstance(uri, str):
                    params = {"uri": uri, "_meta": sub_meta}
                    return sse_event(
                        notification_message("notifications/resources/updated", params)
                    )
            return None

        async with self._stream_slot(message.id):
            # Upstream resource watches owned by this stream (``subscribing.listen_watch``).
            listen_id = f"listen-{secrets.token_urlsafe(12)}"
            watched = await subscribing.listen_watch(
                ctx, requested.get("resourceSubscriptions"), listen_id
            )
            if watched:
                honored["resourceSubscriptions"] = watched
                groups = [*groups, subscriptions.session_group(self.tenant.schema_name, listen_id)]
            ack = notification_message(
                "notifications/subscriptions/acknowledged",
                {"notifications": honored, "_meta": sub_meta},
            )
            try:
                await streams.run_stream(
                    send=self.send,
                    receive=self._receive,
                    headers=SSE_HEADERS,
                    groups=groups,
                    first_frames=[sse_event(ack)],
                    frame_for=frame_for,
                    still_valid=self._token_still_valid,
                    final_frame=lambda: sse_event(
                        error_message(message.id, self.stream_error)
                        if self.stream_error is not None
                        else result_message(
                            message.id, {"_meta": sub_meta, "resultType": "complete"}
                        )
                    ),
                )
            finally:
                await subscribing.listen_unwatch(ctx, watched, listen_id)
        raise StopConsumer()
