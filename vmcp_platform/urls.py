"""Routes. Everything tenant-scoped lives under /t/<tenant>/ (see tenants.middleware)."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from tenants import views as tenant_views

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="tenants/login.html",
            authentication_form=tenant_views.EmailAuthenticationForm,
            extra_context={"reset_enabled": settings.VMCP_EMAIL_ENABLED},
        ),
        name="login",
    ),
    path("invite/<str:token>/", tenant_views.invitation_page, name="invitation"),
    # Password reset by e-mail link (settings.VMCP_EMAIL_ENABLED; console mail in development).
    path("password-reset/", tenant_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="tenants/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="tenants/password_reset_confirm.html"
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="tenants/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
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
