"""Connector catalog and connection routes, under /t/<tenant>/api/v1/."""

from django.urls import path

from .apis import connections as apis

urlpatterns = [
    path("connectors", apis.ConnectorListApi.as_view(), name="connectors"),
    path("connectors/<slug:slug>/tools", apis.ConnectorToolsApi.as_view(), name="connector-tools"),
    path("connections", apis.ConnectionListCreateApi.as_view(), name="connections"),
    path("connections/<slug:name>", apis.ConnectionDetailApi.as_view(), name="connection"),
    path(
        "connections/<slug:name>/tools", apis.ConnectionToolsApi.as_view(), name="connection-tools"
    ),
    path("connections/<slug:name>/sync", apis.ConnectionSyncApi.as_view(), name="connection-sync"),
    path(
        "connections/<slug:name>/openapi/preview",
        apis.OpenApiPreviewApi.as_view(),
        name="connection-openapi-preview",
    ),
]
