"""REST: ``POST execute_tool`` — one tool for one end user, without MCP.

Runs through the same execution path as MCP ``tools/call`` (``gateway.execution``). Scope:
without ``config_id``, any tool of the tenant's connections, under the tenant's limit and the
end user's tenant-wide limit; with ``config_id``, only the tools that virtual server exposes (by
their exposed names), under that server's per-user and per-tool limits too — what an agent on
that server would get. Errors, in the API's one error shape:

==============================  ======  =============================================
unknown connection / config_id   404     ``not_found``
unknown tool                    404     ``unknown_tool``
tool name on several connections 400    ``ambiguous_tool`` (details list candidates)
invalid params                  400     ``validation_error`` (details name each field)
no active / expired account     409     ``no_active_account`` / ``account_expired``
rate limited                    429     ``rate_limited`` + ``Retry-After``
Redis / database down           503     ``service_unavailable``
provider failure                502     ``provider_error`` (details: provider_status,
                                        reason, retry_after, execution_id)
local tool refused its input    400     the tool's own code (e.g. ``validation_error``)
==============================  ======  =============================================

A provider failure is a 502 rather than a 200 with ``is_error``: a REST caller branches on the
status code, and "the provider refused" is not success. A tool that itself answered with an MCP
``isError`` result (an upstream MCP server's tool error) is a 200 with ``is_error: true``: the
call went through and that is the tool's answer.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django_tenants.utils import tenant_context
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from configs.selectors import connection_list, connection_tools
from configs.selectors_mcp import mcp_config_get
from configs.tools import ExposedTool, config_exposed_tools
from connectors.base import ToolResult
from gateway.execution import tool_execute
from tenants.api_view import TenantAPIView
from tenants.models import Tenant
from vmcp_platform.errors import NotFound, ValidationFailed
from vmcp_platform.openapi import ErrorResponseSerializer
from vmcp_platform.sanitize import wire_request_id, wire_text


def _connection_for_tool(tenant: Tenant, tool_name: str) -> str:
    """The one connection of the tenant exposing ``tool_name``."""
    with tenant_context(tenant):
        candidates = [
            connection.name
            for connection in connection_list()
            if any(tool.get("name") == tool_name for tool in connection_tools(connection))
        ]
    if not candidates:
        raise NotFound(
            f"No connection has a tool named '{tool_name[:128]}'.",
            code="unknown_tool",
            details={"tool_name": tool_name[:128]},
        )
    if len(candidates) > 1:
        raise ValidationFailed(
            f"Several connections have a tool named '{tool_name[:128]}'; pass connection_name"
            f" (one of: {', '.join(candidates[:10])}).",
            code="ambiguous_tool",
            details={"candidates": candidates},
        )
    return candidates[0]


def _exposed_tool(
    tenant: Tenant, config_id: Any, tool_name: str, connection_name: str | None
) -> ExposedTool:
    """The tool ``tool_name`` (its exposed name) of one virtual server: that server's scope."""
    with tenant_context(tenant):
        config = mcp_config_get(config_id=config_id)
        found = next(
            (
                tool
                for tool in config_exposed_tools(config)
                if tool.exposed_name == tool_name
                and (connection_name is None or tool.connection.name == connection_name)
            ),
            None,
        )
    if found is None:
        raise NotFound(
            f"Virtual server '{config.name}' exposes no tool named '{tool_name[:128]}'.",
            code="unknown_tool",
            details={"tool_name": tool_name[:128], "config_id": str(config_id)},
        )
    return found


def result_data(result: ToolResult) -> Any:
    """Structured content if any, else the text content parsed as JSON, else the text."""
    if result.structured is not None:
        return result.structured
    texts = [block.get("text", "") for block in result.content if block.get("type") == "text"]
    if not texts:
        return None
    parsed = [_parse(text) for text in texts]
    return parsed[0] if len(parsed) == 1 else parsed


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _no_controls(value: str) -> None:
    # DRF already refuses NUL and lone surrogates; other control characters have no business in
    # a name or an identifier that ends up in the audit trail either.
    if wire_text(value, max_len=len(value)) != value:
        raise serializers.ValidationError("Control characters are not allowed.")


class ExecuteToolApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        tool_name = serializers.CharField(max_length=128, validators=[_no_controls])
        identifier = serializers.CharField(
            max_length=255, validators=[_no_controls], help_text="The end user to act as."
        )
        params = serializers.DictField(
            required=False, default=dict, help_text="The tool's arguments (its input schema)."
        )
        connection_name = serializers.CharField(
            max_length=100,
            required=False,
            validators=[_no_controls],
            help_text="Needed only when several connections have a tool of that name.",
        )
        agent_run_id = serializers.CharField(
            max_length=128, required=False, allow_blank=True, validators=[_no_controls]
        )
        config_id = serializers.UUIDField(
            required=False,
            help_text="A virtual server: the call gets its scope (its tools, by their exposed "
            "names) and its per-user and per-tool rate limits. Without it: any tool of the "
            "tenant, under the tenant-wide per-user limit.",
        )

    class OutputSerializer(serializers.Serializer):
        data = serializers.JSONField(
            allow_null=True,
            help_text="Structured content if any, else the text content parsed as JSON, "
            "else the text.",
        )
        execution_id = serializers.CharField(help_text="Also in the audit event's extra.")
        is_error = serializers.BooleanField()
        content = serializers.ListField(
            child=serializers.DictField(), help_text="The MCP content blocks."
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            409: OpenApiResponse(
                ErrorResponseSerializer, description="No active account for that user."
            ),
            429: OpenApiResponse(
                ErrorResponseSerializer, description="Rate limited; see Retry-After."
            ),
            502: OpenApiResponse(
                ErrorResponseSerializer,
                description="The provider failed the call (details: provider_status, reason).",
            ),
            503: OpenApiResponse(
                ErrorResponseSerializer,
                description="Rate limiting or the database is unavailable; nothing was run.",
            ),
        },
        operation_id="execute_tool",
        description="Run one tool for one end user with that user's own credential.",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        scoped: dict[str, Any] = {}
        if values.get("config_id") is not None:
            exposed = _exposed_tool(
                self.tenant, values["config_id"], values["tool_name"], values.get("connection_name")
            )
            connection_name, tool_name = exposed.connection.name, exposed.tool_name
            scoped = {"config_id": values["config_id"], "exposed_name": values["tool_name"]}
        else:
            tool_name = values["tool_name"]
            connection_name = values.get("connection_name") or _connection_for_tool(
                self.tenant, tool_name
            )
        executed = async_to_sync(tool_execute)(
            tenant=self.tenant,
            connection_name=connection_name,
            tool_name=tool_name,
            **scoped,
            identifier=values["identifier"],
            arguments=values.get("params") or {},
            actor=self.actor,
            # Sanitised and bounded (again) in the call's record; cut here so no more is held.
            request_id=wire_request_id(request.headers.get("X-Request-ID", "")),
            agent_run_id=values.get("agent_run_id", ""),
        )
        if executed.error is not None:
            raise executed.error
        result = executed.result
        body = {
            "data": result_data(result),
            "execution_id": executed.execution_id,
            "is_error": result.is_error,
            "content": result.content,
        }
        return Response(self.OutputSerializer(body).data)
