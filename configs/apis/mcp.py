"""REST: virtual MCP servers (``mcp/configs``), per-user readiness and session tokens."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from vmcp_platform.api import TenantAPIView
from vmcp_platform.errors import ValidationFailed
from vmcp_platform.openapi import ErrorResponseSerializer

from ..models import McpConfig, SessionToken
from ..selectors_mcp import (
    mcp_config_get,
    mcp_config_list,
    mcp_server_url,
    session_token_get,
    session_tokens_for_config,
)
from ..services.mcp_configs import mcp_config_create, mcp_config_delete, mcp_config_update
from ..services.tokens import (
    config_readiness,
    parse_expiry,
    session_token_mint,
    session_token_revoke,
    session_tokens_revoke_for_identifier,
)
from ..tools import config_exposed_tools

ACCOUNT_STATUSES = [
    "ACTIVE",
    "PENDING_AUTH",
    "EXPIRED",
    "REVOKED",
    "ERROR",
    "NOT_CONNECTED",
    "NOT_REQUIRED",
]

# ---------------------------------------------------------------- cursor pages


class PageQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)
    cursor = serializers.CharField(required=False, help_text="next_cursor of the previous page.")


def _encode_cursor(position: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, keys: set[str]) -> dict[str, str]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict) or set(position) != keys:
        raise ValidationFailed("The cursor is invalid.", details={"cursor": "invalid cursor"})
    return position


def _page(
    queryset: QuerySet[Any],
    params: dict[str, Any],
    *,
    position: Callable[[Any], dict[str, str]],
    after: Callable[[dict[str, str]], Q],
    keys: set[str],
) -> tuple[list[Any], str | None]:
    """Keyset pagination: stable under inserts, and the cursor is opaque to callers."""
    if params.get("cursor"):
        try:
            queryset = queryset.filter(after(_decode_cursor(params["cursor"], keys)))
        except (ValueError, TypeError, KeyError):
            raise ValidationFailed(
                "The cursor is invalid.", details={"cursor": "invalid cursor"}
            ) from None
    limit = params["limit"]
    items = list(queryset[: limit + 1])
    if len(items) <= limit:
        return items, None
    return items[:limit], _encode_cursor(position(items[limit - 1]))


# ---------------------------------------------------------------- shapes


class OverrideSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_.-]{1,128}$", required=False)
    description = serializers.CharField(required=False, max_length=2000)


class MappingSerializer(serializers.Serializer):
    connection_name = serializers.CharField()
    tools = serializers.ListField(
        child=serializers.CharField(),
        help_text='Tool names of that connection, or ["*"]: all of its tools, '
        "including ones added later.",
    )
    overrides = serializers.DictField(
        child=OverrideSerializer(),
        required=False,
        help_text="Per original tool name: the name/description the agent sees instead.",
    )


@extend_schema_field(MappingSerializer(many=True))
class MappingsField(serializers.JSONField):
    """Passed through as-is: the service validates and names the exact entry that is wrong."""


class ConfigOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    connection_tool_mappings = MappingSerializer(many=True)
    rate_limit_per_minute = serializers.IntegerField(allow_null=True)
    tool_count = serializers.IntegerField(help_text="How many tools an agent sees right now.")
    mcp_server_url = serializers.URLField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ConfigPage(serializers.Serializer):
    data = ConfigOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class TokenOutput(serializers.Serializer):
    id = serializers.UUIDField()
    identifier = serializers.CharField()
    prefix = serializers.CharField(help_text="The first characters, to recognise a token.")
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_blank=True)
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField()


class TokenPage(serializers.Serializer):
    data = TokenOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


def _config_body(config: McpConfig, tenant_slug: str) -> dict[str, Any]:
    mappings = list(config.mappings.all())
    return {
        "id": str(config.pk),
        "name": config.name,
        "description": config.description,
        "connection_tool_mappings": [
            {"connection_name": m.connection.name, "tools": m.tools, "overrides": m.overrides}
            for m in mappings
        ],
        "rate_limit_per_minute": config.rate_limit_per_minute,
        "tool_count": len(config_exposed_tools(config)),
        "mcp_server_url": mcp_server_url(tenant_slug=tenant_slug, config=config),
        "created_at": _iso(config.created_at),
        "updated_at": _iso(config.updated_at),
    }


def _token_body(token: SessionToken) -> dict[str, Any]:
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


def _iso(value: datetime) -> str:
    return serializers.DateTimeField().to_representation(value)


# ---------------------------------------------------------------- configs


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
        configs, next_cursor = _page(
            mcp_config_list(),
            params.validated_data,
            position=lambda c: {"n": c.name},
            after=lambda p: Q(name__gt=str(p["n"])),
            keys={"n"},
        )
        return Response(
            {
                "data": [_config_body(c, self.tenant.slug) for c in configs],
                "next_cursor": next_cursor,
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
        return Response(_config_body(config, self.tenant.slug), status=status.HTTP_201_CREATED)


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
        return Response(_config_body(config, self.tenant.slug))

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
        return Response(_config_body(mcp_config_get(config_id=config_id), self.tenant.slug))

    @extend_schema(responses={204: None}, operation_id="mcp_configs_destroy")
    def delete(self, request: Request, config_id: uuid.UUID) -> Response:
        mcp_config_delete(config=mcp_config_get(config_id=config_id), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectionStatusOutput(serializers.Serializer):
    connection_name = serializers.CharField()
    connector = serializers.CharField()
    status = serializers.ChoiceField(choices=ACCOUNT_STATUSES)
    authorization_url = serializers.URLField(
        required=False, help_text="A fresh connect link to forward to the end user."
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the connect link expires."
    )


class ReadinessOutput(serializers.Serializer):
    identifier = serializers.CharField()
    ready = serializers.BooleanField(help_text="Every connection is ACTIVE or NOT_REQUIRED.")
    connections = ConnectionStatusOutput(many=True)


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


# ---------------------------------------------------------------- session tokens


class MintedOutput(serializers.Serializer):
    id = serializers.UUIDField()
    token = serializers.CharField(help_text="The session token, shown only in this response.")
    expires_at = serializers.DateTimeField()
    mcp_server_url = serializers.URLField()
    identifier = serializers.CharField()


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
        tokens, next_cursor = _page(
            session_tokens_for_config(
                config=config,
                identifier=params.validated_data.get("identifier"),
                active=params.validated_data.get("active"),
            ),
            params.validated_data,
            position=lambda t: {"c": t.created_at.isoformat(), "i": str(t.pk)},
            after=lambda p: (
                Q(created_at__lt=p["c"]) | Q(created_at=p["c"], id__lt=uuid.UUID(str(p["i"])))
            ),
            keys={"c", "i"},
        )
        return Response({"data": [_token_body(t) for t in tokens], "next_cursor": next_cursor})

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
            "expires_at": _iso(minted.token.expires_at),
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
