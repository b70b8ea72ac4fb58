"""RFC 9728 protected-resource metadata for each MCP endpoint.

A tenant with an identity source names its own authorization server
(``<PUBLIC_BASE_URL>/t/<tenant>/oauth``, ``gateway.oauth``) and its scopes, so interactive
clients sign the user in. Without one, ``authorization_servers`` stays empty and
``vmcp_token_issuance`` says in plain JSON that the tenant's backend mints the session tokens,
so a client does not wander into discovery URLs that cannot work. Either way the metadata tells
the client which resource the bearer token is for and how to send it (header only).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from django_tenants.utils import tenant_context

from tenants.selectors import tenant_get_by_slug

from .oauth.metadata import protected_resource_extra
from .oauth.policy import oauth_settings_get


@require_GET
def protected_resource_metadata(request: HttpRequest, tenant: str, config_id: str) -> JsonResponse:
    tenant_obj = tenant_get_by_slug(tenant)
    if tenant_obj is None:
        return JsonResponse(
            {"error": {"code": "not_found", "message": "No such tenant.", "details": {}}},
            status=404,
        )
    with tenant_context(tenant_obj):
        extra = protected_resource_extra(tenant, oauth_settings_get())
    resource = f"{settings.PUBLIC_BASE_URL}/t/{tenant}/mcp/{config_id}"
    response = JsonResponse(
        {
            "resource": resource,
            **extra,
            "bearer_methods_supported": ["header"],
            "resource_name": "vmcp virtual MCP server",
            "resource_documentation": f"{settings.PUBLIC_BASE_URL}/api/v1/docs/",
        }
    )
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=300"
    return response
