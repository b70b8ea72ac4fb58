"""REST: is an end user ready to use a config (an ACTIVE account on each connection it needs)?"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from configs.selectors_mcp import mcp_config_get
from configs.services.tokens import config_readiness
from tenants.api_view import TenantAPIView

from .serializers import ReadinessOutput


class McpConfigReadinessApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        identifier = serializers.CharField(max_length=255, trim_whitespace=False)
        include_auth_link = serializers.BooleanField(default=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: ReadinessOutput},
        operation_id="mcp_configs_connected_accounts",
    )
    def post(self, request: Request, config_id: uuid.UUID) -> Response:
        config = mcp_config_get(config_id=config_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        readiness = config_readiness(
            config=config,
            identifier=data.validated_data["identifier"],
            include_auth_link=data.validated_data["include_auth_link"],
            actor=self.actor,
        )
        return Response(
            {
                "identifier": readiness.identifier,
                "ready": readiness.ready,
                "connections": [c.as_dict() for c in readiness.connections],
            }
        )
