"""Routes. Everything tenant-scoped lives under /t/<tenant>/ (see tenants.middleware)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from tenants import views as tenant_views

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("login/", auth_views.LoginView.as_view(template_name="tenants/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", tenant_views.home, name="home"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("t/<slug:tenant>/dashboard/", include("dashboard.urls", namespace="dashboard")),
    path("t/<slug:tenant>/api/v1/", include("vmcp_platform.api_urls")),
    # End-user connect pages and the deployment-wide OAuth callback.
    path("", include("accounts.urls")),
    # Protected-resource metadata for the MCP endpoint (the endpoint itself is in gateway.routing).
    path("", include("gateway.urls")),
]
