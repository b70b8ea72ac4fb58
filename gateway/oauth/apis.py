"""REST: the tenant's OAuth settings (identity source + AS policy) and its users' grants."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api_view import TenantAPIView

from .flow import idp_redirect_uri
from .grants import grant_revoke, grants_revoke_for_identifier
from .metadata import protected_resource_extra
from .policy import (
    DEFAULT_REDIRECT_PATTERNS,
    SettingsChange,
    idp_client_secret_is_set,
    issuer_for,
    oauth_settings_get,
    oauth_settings_update,
)
from .selectors import oauth_grant_body, oauth_grant_get, oauth_grant_list

SETTING_FIELDS = (
    "idp_issuer",
    "idp_client_id",
    "idp_identifier_claim",
    "idp_allowed_email_domains",
    "cimd_enabled",
    "dcr_enabled",
    "redirect_uri_patterns",
    "client_domains",
    "access_token_seconds",
    "refresh_token_days",
)


def settings_body(tenant_slug: str) -> dict[str, Any]:
    row = oauth_settings_get()
    body: dict[str, Any] = {name: getattr(row, name) for name in SETTING_FIELDS}
    body.update(
        {
            "idp_client_secret_set": idp_client_secret_is_set(),
            "interactive_sign_in": row.has_identity_source,
            "issuer": issuer_for(tenant_slug),
            "idp_redirect_uri": idp_redirect_uri(tenant_slug),
            "effective_redirect_uri_patterns": row.redirect_uri_patterns
            or DEFAULT_REDIRECT_PATTERNS,
            "protected_resource": protected_resource_extra(tenant_slug, row),
        }
    )
    return body


class OAuthSettingsApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        idp_issuer = serializers.CharField(required=False, allow_blank=True, max_length=500)
        idp_client_id = serializers.CharField(required=False, allow_blank=True, max_length=255)
        idp_client_secret = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=2000,
            trim_whitespace=False,
            help_text="Write-only, kept in the vault. Empty string removes it.",
        )
        idp_identifier_claim = serializers.CharField(required=False, max_length=64)
        idp_allowed_email_domains = serializers.ListField(
            child=serializers.CharField(max_length=253), required=False, max_length=50
        )
        cimd_enabled = serializers.BooleanField(required=False)
        dcr_enabled = serializers.BooleanField(required=False)
        redirect_uri_patterns = serializers.ListField(
            child=serializers.CharField(max_length=500), required=False, max_length=50
        )
        client_domains = serializers.ListField(
            child=serializers.CharField(max_length=253), required=False, max_length=50
        )
        access_token_seconds = serializers.IntegerField(required=False)
        refresh_token_days = serializers.IntegerField(required=False)

    @extend_schema(responses={200: dict}, operation_id="oauth_settings_get")
    def get(self, request: Request) -> Response:
        return Response(settings_body(self.tenant.slug))

    @extend_schema(
        request=InputSerializer, responses={200: dict}, operation_id="oauth_settings_update"
    )
    def patch(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        secret = fields.pop("idp_client_secret", None)
        oauth_settings_update(
            change=SettingsChange(fields=fields, client_secret=secret), actor=self.actor
        )
        return Response(settings_body(self.tenant.slug))


class OAuthGrantListApi(TenantAPIView):
    class ListQuery(serializers.Serializer):
        identifier = serializers.CharField(required=False, max_length=255, trim_whitespace=False)
        active = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(parameters=[ListQuery], responses={200: dict}, operation_id="oauth_grants_list")
    def get(self, request: Request) -> Response:
        params = self.ListQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        grants = oauth_grant_list(
            identifier=params.validated_data.get("identifier"),
            active=params.validated_data.get("active"),
        )[:500]
        return Response({"data": [oauth_grant_body(g) for g in grants]})


class OAuthGrantRevokeApi(TenantAPIView):
    @extend_schema(responses={204: None}, operation_id="oauth_grants_revoke")
    def delete(self, request: Request, grant_id: int) -> Response:
        grant_revoke(grant=oauth_grant_get(grant_id=grant_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OAuthGrantRevokeForIdentifierApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        identifier = serializers.CharField(max_length=255, trim_whitespace=False)
        client_id = serializers.CharField(required=False, max_length=500)

    class OutputSerializer(serializers.Serializer):
        revoked = serializers.IntegerField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        operation_id="oauth_grants_revoke_for_identifier",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revoked = grants_revoke_for_identifier(
            identifier=data.validated_data["identifier"],
            client_id=data.validated_data.get("client_id"),
            actor=self.actor,
        )
        return Response({"revoked": revoked})
