from django.urls import path

from .apis import mcp

# A config's readiness and session tokens (``mcp/configs/<id>/connected_accounts``, ``…/tokens``,
# ``mcp/tokens/<id>``) stand on connected accounts: ``accounts.urls_api``.
urlpatterns = [
    path("mcp/configs", mcp.McpConfigListCreateApi.as_view(), name="mcp-configs"),
    path("mcp/configs/<uuid:config_id>", mcp.McpConfigDetailApi.as_view(), name="mcp-config"),
]
