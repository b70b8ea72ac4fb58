"""The ASGI app daphne serves: Django views, plus the MCP endpoint as a Channels consumer."""

import json
import logging
import os
import re
from typing import Any

from django.core.asgi import get_asgi_application

from vmcp_platform import access_log

access_log.install()  # before the server writes its first access line
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from gateway.routing import mcp_routes  # noqa: E402

logger = logging.getLogger(__name__)

_MCP_PATH = re.compile(r"^/t/[^/]+/mcp/")


class JsonErrorGuard:
    """The last line: an exception that escapes the app becomes a JSON 500, never daphne's HTML.

    On the MCP endpoint the body is a JSON-RPC error (-32603); elsewhere the API's error shape.
    The consumer and the tenant middleware answer their own failures; this catches what they
    did not foresee. If a response had already started, it can only be ended.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        state = {"started": False, "done": False}

        async def tracked_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = True
            await send(message)

        try:
            return await self.inner(scope, receive, tracked_send)
        except Exception:
            logger.exception("unhandled exception serving %s", scope.get("path", ""))
            if state["done"]:
                return None
            if state["started"]:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return None
            await send_internal_error(send, mcp=bool(_MCP_PATH.match(scope.get("path", ""))))
            return None


async def send_internal_error(send: Any, *, mcp: bool) -> None:
    if mcp:
        payload: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32603, "message": "Internal error"},
        }
    else:
        payload = {"error": {"code": "internal_error", "message": "Internal error", "details": {}}}
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ``/static/…`` (the dashboard's CSS, JS and vendored htmx) is served by the app itself, from
# the staticfiles finders, whatever DEBUG says: the product is self-hosted and ``make run`` is
# daphne alone. A CDN or reverse proxy in front can take ``/static/`` over (``collectstatic``
# fills STATIC_ROOT); requests it answers never reach this handler.
application = JsonErrorGuard(
    ASGIStaticFilesHandler(
        ProtocolTypeRouter(
            {
                "http": URLRouter([*mcp_routes, re_path(r"", django_asgi_app)]),
            }
        )
    )
)
