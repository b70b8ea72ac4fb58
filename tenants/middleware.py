"""Tenant routing, decided once: ``/t/<slug>/…`` selects the tenant and its schema.

Django views get ``request.tenant`` (None outside ``/t/``) with the connection's schema set.
The MCP endpoint is not a Django view; it resolves its tenant in ``tenants.asgi``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from .selectors import tenant_get_by_slug

TENANT_PATH_RE = re.compile(r"^/t/(?P<slug>[^/]+)(?:/|$)")
OAUTH_PATH_RE = re.compile(r"^/t/[^/]+/oauth(?:/|$)")


class TenantPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = TENANT_PATH_RE.match(request.path_info)
        connection.set_schema_to_public()
        request.tenant = None  # type: ignore[attr-defined]
        if match:
            tenant = tenant_get_by_slug(match["slug"])
            if tenant is None:
                return _not_found(request)
            request.tenant = tenant  # type: ignore[attr-defined]
            connection.set_tenant(tenant)
        try:
            return self.get_response(request)
        finally:
            # A pooled connection must not carry one tenant's schema into the next request.
            connection.set_schema_to_public()


def _not_found(request: HttpRequest) -> HttpResponse:
    # API and OAuth clients read JSON, never an HTML error page.
    if "/api/" in request.path_info or OAUTH_PATH_RE.match(request.path_info):
        return JsonResponse(
            {"error": {"code": "not_found", "message": "No such tenant.", "details": {}}},
            status=404,
        )
    raise Http404("No such tenant.")
