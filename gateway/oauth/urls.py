"""Routes of the tenant's authorization server, under /t/<tenant>/oauth/, and the well-known
metadata URLs outside it (wired in ``gateway.urls``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("authorize", views.authorize, name="oauth-authorize"),
    path("callback", views.callback, name="oauth-idp-callback"),
    path("consent/<uuid:authorization_id>", views.consent, name="oauth-consent"),
    path("token", views.token, name="oauth-token"),
    path("revoke", views.revoke, name="oauth-revoke"),
    path("register", views.register, name="oauth-register"),
    path(".well-known/oauth-authorization-server", views.metadata, name="oauth-metadata"),
    path(".well-known/openid-configuration", views.metadata, name="oauth-openid-metadata"),
]

# Outside /t/: RFC 8414 §3.1 path insertion of the issuer's path, the OIDC spelling clients also
# try, and both built from the MCP URL by clients that skip protected-resource metadata.
well_known_patterns = [
    path(
        f".well-known/{name}/t/<slug:tenant>/{tail}",
        views.metadata,
        name=f"oauth-metadata-{name}-{label}",
    )
    for name in ("oauth-authorization-server", "openid-configuration")
    for tail, label in (("oauth", "issuer"), ("mcp/<uuid:config_id>", "mcp"))
] + [
    path(".well-known/oauth-authorization-server", views.root_metadata),
    path(".well-known/openid-configuration", views.root_metadata),
]
