"""REST: end one end user tenant-wide (every server's session tokens, optionally accounts)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.services import end_user_revoke
from tenants.api_view import TenantAPIView
from vmcp_platform.openapi import ErrorResponseSerializer


class EndUserRevokeApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        identifier = serializers.CharField(
            max_length=255, trim_whitespace=False, help_text="The end user to cut off."
        )
        connected_accounts = serializers.BooleanField(
            default=False,
            help_text="Also revoke every connected account of theirs (here and at the "
            "provider where it supports that).",
        )

    class OutputSerializer(serializers.Serializer):
        identifier = serializers.CharField()
        revoked_tokens = serializers.IntegerField(help_text="Live session tokens revoked.")
        servers = serializers.IntegerField(help_text="Virtual servers those tokens were for.")
        revoked_accounts = serializers.IntegerField()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(ErrorResponseSerializer, description="Invalid identifier."),
        },
        operation_id="end_users_revoke",
        description="Revoke every live session token of one end user on every virtual server "
        "of the tenant (and, with connected_accounts, their connected accounts). Their open "
        "MCP streams end; audited once, with the counts.",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = end_user_revoke(
            identifier=data.validated_data["identifier"],
            connected_accounts=data.validated_data["connected_accounts"],
            actor=self.actor,
        )
        return Response(self.OutputSerializer(result.as_dict()).data)
