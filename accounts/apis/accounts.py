"""REST: connected accounts (list, create with a connect link, get, revoke) and magic links.

Representations never include a token or key; only whether the account is usable.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import ACCOUNT_ORDER, account_get, account_list
from accounts.services import account_get_or_create, account_revoke, connect_link_create
from configs.selectors import connection_get
from tenants.api_view import TenantAPIView
from vault.models import ConnectedAccount
from vmcp_platform.errors import ValidationFailed
from vmcp_platform.pagination import keyset_page, parse_limit

MAX_PAGE_SIZE = 200


class ConnectedAccountOutput(serializers.Serializer):
    id = serializers.IntegerField()
    connection_name = serializers.CharField(source="connection.name")
    connector = serializers.CharField(source="connection.connector")
    identifier = serializers.CharField()
    status = serializers.ChoiceField(choices=ConnectedAccount.Status.choices)
    connected_account_status = serializers.ChoiceField(
        source="status",
        choices=ConnectedAccount.Status.choices,
        help_text="Same as status, under the name Scalekit's API uses.",
    )
    scopes = serializers.ListField(child=serializers.CharField())
    token_expires_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    connected_at = serializers.DateTimeField(allow_null=True)


class AccountInput(serializers.Serializer):
    connection_name = serializers.CharField(max_length=100)
    identifier = serializers.CharField(max_length=255, trim_whitespace=False)


def _account_and_link(data: dict[str, Any], actor: str) -> tuple[ConnectedAccount, bool, Any]:
    connection = connection_get(name=data["connection_name"])
    with transaction.atomic():
        existed = ConnectedAccount.objects.filter(
            connection=connection, identifier=data["identifier"]
        ).exists()
        account = account_get_or_create(
            connection=connection, identifier=data["identifier"], actor=actor
        )
        link = connect_link_create(account=account, actor=actor)
    return account, not existed, link


class ConnectedAccountListCreateApi(TenantAPIView):
    class ListOutput(serializers.Serializer):
        data = ConnectedAccountOutput(many=True)
        next_cursor = serializers.CharField(allow_null=True)

    class CreatedOutput(ConnectedAccountOutput):
        authorization_url = serializers.URLField(
            help_text="A fresh single-use connect link for the end user."
        )
        authorization_url_expires_at = serializers.DateTimeField()
        authentication_link = serializers.URLField(
            help_text="Same as authorization_url, under the name Scalekit's API uses."
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("identifier", str),
            OpenApiParameter("connection_name", str),
            OpenApiParameter("status", str, enum=ConnectedAccount.Status.values),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int, description=f"1–{MAX_PAGE_SIZE}"),
        ],
        responses=ListOutput,
        operation_id="connected_accounts_list",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        accounts = account_list(
            identifier=params.get("identifier"),
            connection_name=params.get("connection_name"),
            status=params.get("status"),
        )
        page = keyset_page(
            accounts,
            order_fields=ACCOUNT_ORDER,
            cursor=params.get("cursor"),
            limit=parse_limit(params.get("limit"), maximum=MAX_PAGE_SIZE),
            error=_invalid_cursor,
        )
        return Response(
            {
                "data": ConnectedAccountOutput(page.items, many=True).data,
                "next_cursor": page.next_cursor,
            }
        )

    @extend_schema(
        request=AccountInput,
        responses={200: CreatedOutput, 201: CreatedOutput},
        operation_id="connected_accounts_create",
    )
    def post(self, request: Request) -> Response:
        data = AccountInput(data=request.data)
        data.is_valid(raise_exception=True)
        account, created, link = _account_and_link(data.validated_data, self.actor)
        body = {
            **ConnectedAccountOutput(account).data,
            "authorization_url": link.url,
            "authentication_link": link.url,
            "authorization_url_expires_at": serializers.DateTimeField().to_representation(
                link.expires_at
            ),
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ConnectedAccountDetailApi(TenantAPIView):
    @extend_schema(responses=ConnectedAccountOutput, operation_id="connected_accounts_get")
    def get(self, request: Request, account_id: int) -> Response:
        return Response(ConnectedAccountOutput(account_get(account_id=account_id)).data)

    @extend_schema(
        responses=ConnectedAccountOutput,
        operation_id="connected_accounts_revoke",
        description="Revoke: mark REVOKED, destroy the stored credential, and revoke it at"
        " the provider where the provider supports that.",
    )
    def delete(self, request: Request, account_id: int) -> Response:
        account = account_revoke(account=account_get(account_id=account_id), actor=self.actor)
        return Response(ConnectedAccountOutput(account).data)


class MagicLinkApi(TenantAPIView):
    class OutputSerializer(serializers.Serializer):
        link = serializers.URLField()
        expires_at = serializers.DateTimeField()

    @extend_schema(
        request=AccountInput,
        responses={201: OutputSerializer},
        operation_id="connected_accounts_magic_link",
    )
    def post(self, request: Request) -> Response:
        data = AccountInput(data=request.data)
        data.is_valid(raise_exception=True)
        _, _, link = _account_and_link(data.validated_data, self.actor)
        body = self.OutputSerializer({"link": link.url, "expires_at": link.expires_at}).data
        return Response(body, status=status.HTTP_201_CREATED)


def _invalid_cursor(cursor: str) -> ValidationFailed:
    return ValidationFailed(
        "cursor is not valid; use next_cursor from a previous page.",
        details={"field": "cursor"},
    )
