"""Django routes of the gateway: the MCP endpoint's protected-resource metadata (RFC 9728).

The endpoint itself is a Channels consumer (gateway.routing).
"""

from django.urls import path

from . import views

urlpatterns = [
    path(
        ".well-known/oauth-protected-resource/t/<slug:tenant>/mcp/<uuid:config_id>",
        views.protected_resource_metadata,
        name="mcp-protected-resource",
    ),
]
