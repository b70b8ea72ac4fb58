"""The REST API under /t/<tenant>/api/v1/; each app contributes its routes."""

from django.urls import include, path, re_path

from tenants import apis as tenant_apis

from .api_fallback import api_not_found

urlpatterns = [
    path("api_keys", tenant_apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api_keys/<int:key_id>", tenant_apis.ApiKeyRevokeApi.as_view(), name="api-key"),
    path("", include("configs.urls_connections")),
    path("", include("configs.urls_mcp")),
    path("", include("accounts.urls_api")),
    path("", include("audit.urls_api")),
    path("", include("gateway.urls_api")),
    # Unknown API paths answer in the API's error shape, not an HTML 404 page.
    re_path(r"^.*$", api_not_found),
]
