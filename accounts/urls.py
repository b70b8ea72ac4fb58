"""End-user pages: the connect link and the deployment-wide OAuth callback."""

from django.urls import path

from accounts import views

app_name = "vault"

urlpatterns = [
    path("t/<slug:tenant>/connect/<str:token>", views.connect, name="connect"),
    path("oauth/callback", views.callback, name="oauth-callback"),
    path("oauth/client-metadata.json", views.client_metadata, name="oauth-client-metadata"),
]
