"""ASGI routes served by Channels consumers rather than Django views (the MCP endpoint).

The same pattern matches with and without the trailing slash, so neither form redirects;
Django's CSRF middleware never sees these requests (bearer-token API, no cookies).
"""

from django.urls import URLPattern, re_path

from gateway.mcp.consumer import McpConsumer
from gateway.mcp.not_found import mcp_not_found
from gateway.warm.audit import enabled as warm_enabled
from tenants.asgi import TenantASGIMiddleware

mcp_routes: list[URLPattern] = [
    re_path(
        r"^t/(?P<tenant>[^/]+)/mcp/(?P<config_id>[^/]+)/?$",
        TenantASGIMiddleware(McpConsumer.as_asgi(), defer=warm_enabled),
        name="mcp-endpoint",
    ),
    # Anything else under the MCP prefix answers JSON too, never Django's HTML pages.
    re_path(r"^t/[^/]+/mcp(?:/.*)?$", mcp_not_found, name="mcp-not-found"),
]
