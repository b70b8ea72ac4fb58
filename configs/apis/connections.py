"""REST: the connector catalog and the tenant's connections (CRUD, tools, sync).

Secrets are write-only: a response says whether each is set and when, never its value.
Lists answer ``{"data": [...], "next_cursor": ...}``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from connectors import all_connectors, get_connector
from connectors.openapi import OPENAPI_CONNECTOR
from tenants.api_view import TenantAPIView
from vmcp_platform.errors import NotFound, ValidationFailed
from vmcp_platform.pagination import ASC, DEFAULT_LIMIT, OrderFields, keyset_page

from ..models import Connection
from ..selectors import (
    MCP_CONNECTOR,
    connection_get,
    connection_list,
    connection_redirect_uri,
    connection_secret_status,
    connection_tools,
)
from ..services.connections import (
    allowed_auth_types,
    connection_create,
    connection_delete,
    connection_sync_tools,
    connection_update,
)
from ..services.connections.reimport import openapi_preview

MAX_LIMIT = 200
CONNECTION_ORDER: OrderFields = (("name", ASC),)  # names are unique


# ---------------------------------------------------------------- representation


class SecretStatusOutput(serializers.Serializer):
    set = serializers.BooleanField()
    updated_at = serializers.DateTimeField(allow_null=True)


class ConnectionOutput(serializers.Serializer):
    name = serializers.CharField()
    connector = serializers.CharField()
    auth_type = serializers.CharField()
    settings = serializers.JSONField()
    secrets = serializers.SerializerMethodField()
    redirect_uri = serializers.SerializerMethodField()
    tools_synced_at = serializers.DateTimeField(allow_null=True)
    tools_changes = serializers.JSONField()
    # An OAuth upstream MCP server: what discovery found and how vmcp registered (no secrets).
    upstream_oauth = serializers.JSONField()
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.DictField(child=SecretStatusOutput()))
    def get_secrets(self, connection: Connection) -> dict[str, Any]:
        return {
            field: SecretStatusOutput(status_).data
            for field, status_ in connection_secret_status(connection).items()
        }

    def get_redirect_uri(self, connection: Connection) -> str:
        return connection_redirect_uri()


class ConnectionPage(serializers.Serializer):
    data = ConnectionOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class ToolPage(serializers.Serializer):
    data = serializers.ListField(child=serializers.JSONField())
    next_cursor = serializers.CharField(allow_null=True)


class ConnectorOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    auth_kind = serializers.CharField()
    auth_types = serializers.ListField(child=serializers.CharField())
    api_base_url = serializers.CharField(allow_null=True)
    default_scopes = serializers.ListField(child=serializers.CharField())
    tools_count = serializers.IntegerField()


class ConnectorPage(serializers.Serializer):
    data = ConnectorOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


def _connector_catalog() -> list[dict[str, Any]]:
    entries = [
        {
            "slug": c.slug,
            "name": c.name,
            "description": c.description,
            "auth_kind": c.auth_kind,
            "auth_types": sorted(allowed_auth_types(c.slug)),
            "api_base_url": c.api_base_url or None,
            "default_scopes": list(c.oauth.default_scopes) if c.oauth else [],
            "tools_count": len(c.tools),
        }
        for c in all_connectors()
    ]
    entries.append(
        {
            "slug": MCP_CONNECTOR,
            "name": "MCP server",
            "description": "Any remote MCP server over Streamable HTTP; its tools are "
            "discovered with tools/list when the connection is synced.",
            "auth_kind": "mcp",
            "auth_types": sorted(allowed_auth_types(MCP_CONNECTOR)),
            "api_base_url": None,
            "default_scopes": [],
            "tools_count": 0,
        }
    )
    entries.append(
        {
            "slug": OPENAPI_CONNECTOR,
            "name": "OpenAPI (any REST API)",
            "description": "Any REST API from its OpenAPI 3.0 or 3.1 document (settings.document "
            "or settings.document_url): each operation becomes a tool.",
            "auth_kind": "api_key",
            "auth_types": sorted(allowed_auth_types(OPENAPI_CONNECTOR)),
            "api_base_url": None,
            "default_scopes": [],
            "tools_count": 0,
        }
    )
    return sorted(entries, key=lambda e: e["slug"])


# ---------------------------------------------------------------- cursor


def _invalid_cursor(cursor: str) -> ValidationFailed:
    return ValidationFailed("The cursor is not valid.", details={"cursor": cursor})


class ListQuery(serializers.Serializer):
    cursor = serializers.CharField(required=False, max_length=500)
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT
    )
    connector = serializers.CharField(required=False, max_length=50)


# ---------------------------------------------------------------- views


class ConnectorListApi(TenantAPIView):
    @extend_schema(responses=ConnectorPage, operation_id="connectors_list")
    def get(self, request: Request) -> Response:
        return Response({"data": _connector_catalog(), "next_cursor": None})


class ConnectorToolsApi(TenantAPIView):
    @extend_schema(responses=ToolPage, operation_id="connector_tools_list")
    def get(self, request: Request, slug: str) -> Response:
        if slug in (MCP_CONNECTOR, OPENAPI_CONNECTOR):
            # An upstream server's tools are per connection: sync the connection to see them.
            return Response({"data": [], "next_cursor": None})
        connector = get_connector(slug)
        if connector is None:
            raise NotFound(f"No connector {slug!r}.", details={"slug": slug})
        return Response(
            {"data": [tool.definition() for tool in connector.tools], "next_cursor": None}
        )


class ConnectionListCreateApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        connector = serializers.CharField(max_length=50)
        auth_type = serializers.CharField(max_length=20)
        settings = serializers.JSONField(required=False, default=dict)
        secrets = serializers.DictField(
            child=serializers.CharField(trim_whitespace=False),
            required=False,
            write_only=True,
            help_text="client_secret (oauth2) or shared_header (mcp); write-only.",
        )

    @extend_schema(
        parameters=[ListQuery],
        responses=ConnectionPage,
        operation_id="connections_list",
    )
    def get(self, request: Request) -> Response:
        query = ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        page = keyset_page(
            connection_list(connector=params.get("connector")),
            order_fields=CONNECTION_ORDER,
            cursor=params.get("cursor"),
            limit=params["limit"],
            error=_invalid_cursor,
        )
        return Response(
            {
                "data": ConnectionOutput(page.items, many=True).data,
                "next_cursor": page.next_cursor,
            }
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: ConnectionOutput},
        operation_id="connections_create",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        connection = connection_create(
            name=values["name"],
            connector=values["connector"],
            auth_type=values["auth_type"],
            settings=values.get("settings") or {},
            secrets=values.get("secrets"),
            actor=self.actor,
        )
        return Response(ConnectionOutput(connection).data, status=status.HTTP_201_CREATED)


class ConnectionDetailApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        settings = serializers.JSONField(
            required=False, help_text="Merged into the settings; a null value removes a key."
        )
        secrets = serializers.DictField(
            child=serializers.CharField(trim_whitespace=False), required=False, write_only=True
        )
        confirm_credential_move = serializers.BooleanField(
            required=False,
            default=False,
            help_text=(
                "Allow a change that sends the stored credentials to another host "
                "(server_url, or an openapi document's OAuth token URL); refused with 409 "
                "otherwise. For an OAuth upstream MCP server its users must then reconnect."
            ),
        )

    @extend_schema(responses=ConnectionOutput, operation_id="connections_get")
    def get(self, request: Request, name: str) -> Response:
        return Response(ConnectionOutput(connection_get(name=name)).data)

    @extend_schema(
        request=InputSerializer, responses=ConnectionOutput, operation_id="connections_update"
    )
    def patch(self, request: Request, name: str) -> Response:
        connection = connection_get(name=name)
        fixed = {
            key: request.data[key]
            for key in ("name", "connector", "auth_type")
            if isinstance(request.data, dict)
            and key in request.data
            and request.data[key] != getattr(connection, key)
        }
        if fixed:
            raise ValidationFailed(
                f"{', '.join(sorted(fixed))} cannot be changed; create a new connection instead.",
                details={"fields": sorted(fixed)},
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = connection_update(
            connection=connection,
            settings=data.validated_data.get("settings"),
            secrets=data.validated_data.get("secrets"),
            actor=self.actor,
            confirm_credential_move=data.validated_data.get("confirm_credential_move", False),
        )
        return Response(ConnectionOutput(connection).data)

    @extend_schema(responses={204: None}, operation_id="connections_delete")
    def delete(self, request: Request, name: str) -> Response:
        connection_delete(connection=connection_get(name=name), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionToolsApi(TenantAPIView):
    @extend_schema(responses=ToolPage, operation_id="connection_tools_list")
    def get(self, request: Request, name: str) -> Response:
        connection = connection_get(name=name)
        return Response({"data": connection_tools(connection), "next_cursor": None})


class ConnectionSyncApi(TenantAPIView):
    class OutputSerializer(ConnectionOutput):
        tools = serializers.ListField(child=serializers.JSONField())
        prompts = serializers.ListField(child=serializers.JSONField())
        resources = serializers.ListField(child=serializers.JSONField())
        resource_templates = serializers.ListField(child=serializers.JSONField())

    @extend_schema(
        request=None,
        responses=OutputSerializer,
        operation_id="connections_sync",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, name: str) -> Response:
        connection = connection_get(name=name)
        tools = connection_sync_tools(connection=connection, actor=self.actor)
        connection.refresh_from_db()
        return Response(
            {
                **ConnectionOutput(connection).data,
                "tools": tools,
                # What the sync discovered besides tools (upstream MCP servers; else empty).
                "prompts": connection.prompts or [],
                "resources": connection.resources or [],
                "resource_templates": connection.resource_templates or [],
            }
        )


class OpenApiPreviewApi(TenantAPIView):
    """What re-importing an openapi connection's document would change; nothing is stored.

    Apply it with ``PATCH connections/<name>`` and the same settings.
    """

    class InputSerializer(serializers.Serializer):
        settings = serializers.JSONField(
            help_text="document or document_url, optionally server_url / security_scheme."
        )

    class OutputSerializer(serializers.Serializer):
        added = serializers.ListField(child=serializers.CharField())
        removed = serializers.ListField(child=serializers.CharField())
        changed = serializers.ListField(child=serializers.CharField())
        changed_parts = serializers.DictField(child=serializers.ListField())
        skipped = serializers.ListField(child=serializers.JSONField())
        tools_count = serializers.IntegerField()
        document_info = serializers.JSONField()
        previous_document_info = serializers.JSONField()
        settings_changed = serializers.ListField(child=serializers.CharField())
        servers_affected = serializers.ListField(child=serializers.JSONField())
        credential_move = serializers.JSONField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        operation_id="connections_openapi_preview",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, name: str) -> Response:
        connection = connection_get(name=name)
        if connection.connector != OPENAPI_CONNECTOR:
            raise ValidationFailed(
                f"Connection {name!r} is not an openapi connection.",
                details={"connector": connection.connector},
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        settings_ = data.validated_data["settings"]
        if not isinstance(settings_, dict) or not ({"document", "document_url"} & set(settings_)):
            raise ValidationFailed(
                "settings needs document or document_url.", details={"field": "document"}
            )
        return Response(openapi_preview(connection=connection, settings=settings_))
