"""REST: a config's session tokens: list, mint, revoke one, revoke all of one end user's."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from configs.models import SessionToken
from configs.selectors_mcp import (
    mcp_config_get,
    mcp_server_url,
    session_token_get,
    session_tokens_for_config,
)
from configs.services.tokens import (
    parse_expiry,
    session_token_mint,
    session_token_revoke,
    session_tokens_revoke_for_identifier,
)
from tenants.api_view import TenantAPIView
from vmcp_platform.openapi import ErrorResponseSerializer
from vmcp_platform.pagination import DESC, OrderFields, keyset_page

from .serializers import MintedOutput, PageQuery, TokenOutput, TokenPage, iso

# Newest first, as ``session_tokens_for_config`` orders them; the id breaks ties.
TOKEN_ORDER: OrderFields = (("created_at", DESC), ("id", DESC))


def token_body(token: SessionToken) -> dict[str, Any]:
    body = TokenOutput(
        {
            "id": token.pk,
            "identifier": token.identifier,
            "prefix": token.prefix,
            "created_at": token.created_at,
            "created_by": token.created_by,
            "expires_at": token.expires_at,
            "last_used_at": token.last_used_at,
            "revoked_at": token.revoked_at,
            "active": token.revoked_at is None and token.expires_at > timezone.now(),
        }
    ).data
    return dict(body)


class SessionTokenListMintApi(TenantAPIView):
    class ListQuery(PageQuery):
        identifier = serializers.CharField(required=False, max_length=255, trim_whitespace=False)
        active = serializers.BooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text="true: neither revoked nor expired; false: revoked or expired.",
        )

    class InputSerializer(serializers.Serializer):
        identifier = serializers.CharField(max_length=255, trim_whitespace=False)
        expiry = serializers.CharField(
            required=False,
            default="1h",
            help_text='60s to 24h: "60s", "15m", "1h", "3600s", "24h". Default 1h.',
        )

    @extend_schema(
        parameters=[ListQuery], responses={200: TokenPage}, operation_id="mcp_tokens_list"
    )
    def get(self, request: Request, config_id: uuid.UUID) -> Response:
        config = mcp_config_get(config_id=config_id)
        params = self.ListQuery(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = keyset_page(
            session_tokens_for_config(
                config=config,
                identifier=params.validated_data.get("identifier"),
                active=params.validated_data.get("active"),
            ),
            order_fields=TOKEN_ORDER,
            cursor=params.validated_data.get("cursor"),
            limit=params.validated_data["limit"],
        )
        return Response(
            {"data": [token_body(t) for t in page.items], "next_cursor": page.next_cursor}
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: MintedOutput,
            409: OpenApiResponse(
                ErrorResponseSerializer,
                description="missing_connected_accounts: details.missing_connections lists "
                "each connection with a fresh authorization_url.",
            ),
        },
        operation_id="mcp_tokens_create",
        description="Refused with 409 `missing_connected_accounts` (details list each connection "
        "and a fresh connect link) while the user lacks an ACTIVE account it needs.",
    )
    def post(self, request: Request, config_id: uuid.UUID) -> Response:
        config = mcp_config_get(config_id=config_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        minted = session_token_mint(
            config=config,
            identifier=data.validated_data["identifier"],
            expiry_seconds=parse_expiry(data.validated_data["expiry"]),
            actor=self.actor,
        )
        body = {
            "id": str(minted.token.pk),
            "token": minted.secret,
            "expires_at": iso(minted.token.expires_at),
            "mcp_server_url": mcp_server_url(tenant_slug=self.tenant.slug, config=config),
            "identifier": minted.token.identifier,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class SessionTokenRevokeForIdentifierApi(TenantAPIView):
    class InputSerializer(serializers.Serializer):
        identifier = serializers.CharField(max_length=255, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        revoked = serializers.IntegerField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        operation_id="mcp_tokens_revoke_for_identifier",
    )
    def post(self, request: Request, config_id: uuid.UUID) -> Response:
        config = mcp_config_get(config_id=config_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revoked = session_tokens_revoke_for_identifier(
            config=config, identifier=data.validated_data["identifier"], actor=self.actor
        )
        return Response({"revoked": revoked})


class SessionTokenRevokeApi(TenantAPIView):
    @extend_schema(responses={204: None}, operation_id="mcp_tokens_revoke")
    def delete(self, request: Request, token_id: uuid.UUID) -> Response:
        session_token_revoke(token=session_token_get(token_id=token_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
