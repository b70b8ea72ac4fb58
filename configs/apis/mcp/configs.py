"""REST: virtual MCP servers (``mcp/configs``): list, create, get, replace, delete."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from configs.models import McpConfig, ToolMapping
from configs.selectors import MCP_CONNECTOR
from configs.selectors_mcp import mcp_config_get, mcp_config_list, mcp_server_url
from configs.services.mcp_configs import (
    mcp_config_create,
    mcp_config_delete,
    mcp_config_update,
)
from configs.tools import config_exposed_tools
from tenants.api_view import TenantAPIView
from vmcp_platform.errors import ValidationFailed
from vmcp_platform.openapi import ErrorResponseSerializer
from vmcp_platform.pagination import ASC, OrderFields, keyset_page

from .serializers import ConfigOutput, ConfigPage, MappingsField, PageQuery, iso

CONFIG_ORDER: OrderFields = (("name", ASC),)  # names are unique


def mapping_body(mapping: ToolMapping) -> dict[str, Any]:
    body = {
        "connection_name": mapping.connection.name,
        "tools": mapping.tools,
        "overrides": mapping.overrides,
        "tool_rate_limits": mapping.tool_rate_limits,
    }
    # Only an upstream MCP connection has prompts and resources to expose.
    if mapping.prompts or mapping.resources or mapping.connection.connector == MCP_CONNECTOR:
        body["prompts"] = mapping.prompts or []
        body["resources"] = mapping.resources or []
        body["prompt_overrides"] = mapping.prompt_overrides or {}
    return body


def config_body(config: McpConfig, tenant_slug: str) -> dict[str, Any]:
    mappings = list(config.mappings.all())
    return {
        "id": str(config.pk),
        "name": config.name,
        "description": config.description,
        "connection_tool_mappings": [mapping_body(m) for m in mappings],
        "rate_limit_per_minute": config.rate_limit_per_minute,
        "tool_count": len(config_exposed_tools(config)),
        "mcp_server_url": mcp_server_url(tenant_slug=tenant_slug, config=config),
        "created_at": iso(config.created_at),
        "updated_at": iso(config.updated_at),
    }


class McpConfigListCreateApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(help_text="a–z, 0–9, '_' and '-', 1–100; cannot change.")
        description = serializers.CharField(required=False, allow_blank=True, default="")
        connection_tool_mappings = MappingsField(required=False, default=list)
        rate_limit_per_minute = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1, max_value=100_000
        )

    @extend_schema(
        parameters=[PageQuery], responses={200: ConfigPage}, operation_id="mcp_configs_list"
    )
    def get(self, request: Request) -> Response:
        params = PageQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = keyset_page(
            mcp_config_list(),
            order_fields=CONFIG_ORDER,
            cursor=params.validated_data.get("cursor"),
            limit=params.validated_data["limit"],
        )
        return Response(
            {
                "data": [config_body(c, self.tenant.slug) for c in page.items],
                "next_cursor": page.next_cursor,
            }
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ConfigOutput,
            409: OpenApiResponse(ErrorResponseSerializer, description="The name is taken."),
        },
        operation_id="mcp_configs_create",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        config = mcp_config_create(
            name=data.validated_data["name"],
            description=data.validated_data["description"],
            mappings=data.validated_data["connection_tool_mappings"],
            rate_limit_per_minute=data.validated_data["rate_limit_per_minute"],
            actor=self.actor,
        )
        config = mcp_config_get(config_id=config.pk)
        return Response(config_body(config, self.tenant.slug), status=status.HTTP_201_CREATED)


class McpConfigDetailApi(TenantAPIView):
    class UpdateSerializer(serializers.Serializer):
        name = serializers.CharField(
            required=False, help_text="Optional; must equal the current name (names are fixed)."
        )
        description = serializers.CharField(required=False, allow_blank=True)
        connection_tool_mappings = MappingsField(help_text="Replaces all mappings (PUT semantics).")
        rate_limit_per_minute = serializers.IntegerField(
            required=False, allow_null=True, min_value=1, max_value=100_000
        )

    @extend_schema(responses={200: ConfigOutput}, operation_id="mcp_configs_retrieve")
    def get(self, request: Request, config_id: uuid.UUID) -> Response:
        config = mcp_config_get(config_id=config_id)
        return Response(config_body(config, self.tenant.slug))

    @extend_schema(
        request=UpdateSerializer,
        responses={200: ConfigOutput},
        operation_id="mcp_configs_update",
    )
    def put(self, request: Request, config_id: uuid.UUID) -> Response:
        config = mcp_config_get(config_id=config_id)
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "name" in values and values["name"] != config.name:
            raise ValidationFailed(
                "A config's name cannot be changed.",
                details={"name": "cannot be changed; create a new config instead"},
            )
        extra = {}
        if "rate_limit_per_minute" in values:
            extra["rate_limit_per_minute"] = values["rate_limit_per_minute"]
        mcp_config_update(
            config=config,
            description=values.get("description"),
            mappings=values["connection_tool_mappings"],
            actor=self.actor,
            **extra,
        )
        return Response(config_body(mcp_config_get(config_id=config_id), self.tenant.slug))

    @extend_schema(responses={204: None}, operation_id="mcp_configs_destroy")
    def delete(self, request: Request, config_id: uuid.UUID) -> Response:
        mcp_config_delete(config=mcp_config_get(config_id=config_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
