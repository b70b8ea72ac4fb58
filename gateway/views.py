"""RFC 9728 protected-resource metadata for each MCP endpoint.

``authorization_servers`` is empty on purpose: session tokens are not obtained through an
OAuth flow the agent runs; the tenant's backend mints them through the REST API and hands
them to the agent. The metadata tells a client which resource the bearer token is for and
how to send it (header only, never the query string).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from tenants.selectors import tenant_get_by_slug


@require_GET
def protected_resource_metadata(request: HttpRequest, tenant: str, config_id: str) -> JsonResponse:
    if tenant_get_by_slug(tenant) is None:
        return JsonResponse(
            {"error": {"code": "not_found", "message": "No such tenant.", "details": {}}},
            status=404,
        )
    resource = f"{settings.PUBLIC_BASE_URL}/t/{tenant}/mcp/{config_id}"
    response = JsonResponse(
        {
            "resource": resource,
            "authorization_servers": [],
            "bearer_methods_supported": ["header"],
            "resource_name": "vmcp virtual MCP server",
            "resource_documentation": f"{settings.PUBLIC_BASE_URL}/api/v1/docs/",
        }
    )
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=300"
    return response
