"""Django routes of the gateway: the MCP endpoint's protected-resource metadata (RFC 9728) and
the per-tenant OAuth authorization server.

The endpoint itself is a Channels consumer (gateway.routing).
"""

from django.urls import include, path

from . import views
from .oauth.urls import well_known_patterns

urlpatterns = [
    path(
        ".well-known/oauth-protected-resource/t/<slug:tenant>/mcp/<uuid:config_id>",
        views.protected_resource_metadata,
        name="mcp-protected-resource",
    ),
    # The tenant's OAuth authorization server for interactive clients (gateway.oauth).
    path("t/<slug:tenant>/oauth/", include("gateway.oauth.urls")),
    *well_known_patterns,
]
