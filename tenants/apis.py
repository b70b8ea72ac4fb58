"""REST: the tenant's API keys (list, create — the secret is returned once — and revoke)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api_view import TenantAPIView

from .selectors import api_keys_for_tenant
from .services import api_key_create, api_key_revoke


class ApiKeyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyListCreateApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    class CreatedSerializer(ApiKeyOutput):
        key = serializers.CharField(help_text="The secret, shown only in this response.")

    @extend_schema(responses=ApiKeyOutput(many=True), operation_id="api_keys_list")
    def get(self, request: Request) -> Response:
        keys = api_keys_for_tenant(tenant=self.tenant)
        return Response(ApiKeyOutput(keys, many=True).data)

    @extend_schema(
        request=InputSerializer, responses={201: CreatedSerializer}, operation_id="api_keys_create"
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = api_key_create(
            tenant=self.tenant, name=data.validated_data["name"], created_by=self.actor
        )
        body = {**ApiKeyOutput(created.api_key).data, "key": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(TenantAPIView):
    @extend_schema(responses={204: None}, operation_id="api_keys_revoke")
    def delete(self, request: Request, key_id: int) -> Response:
        api_key_revoke(tenant=self.tenant, api_key_id=key_id, revoked_by=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
