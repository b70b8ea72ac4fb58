"""REST: the tenant's audit trail (list with filters and a cursor, one event, streaming export)."""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api_view import TenantAPIView
from vmcp_platform.pagination import DEFAULT_LIMIT

from .export import FORMATS, export_parts, export_parts_async
from .models import EventType, Outcome
from .selectors import AuditFilters, audit_event_get, audit_event_page, audit_events_filtered


class AuditFilterSerializer(serializers.Serializer):
    identifier = serializers.CharField(required=False, max_length=255)
    tool = serializers.CharField(required=False, max_length=128)
    config = serializers.UUIDField(required=False)
    connection = serializers.CharField(required=False, max_length=100)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    event_type = serializers.ChoiceField(choices=EventType.choices, required=False)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601; inclusive.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601; exclusive.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since >= until:
            raise serializers.ValidationError({"until": ["Must be later than since."]})
        return attrs


def _filters(request: Request, serializer_class: type[AuditFilterSerializer]) -> dict[str, Any]:
    data = serializer_class(data=request.query_params)
    data.is_valid(raise_exception=True)
    return data.validated_data


def _audit_filters(validated: dict[str, Any]) -> AuditFilters:
    return AuditFilters(**{k: validated.get(k) for k in AuditFilters.__dataclass_fields__})


class AuditEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    event_type = serializers.CharField()
    outcome = serializers.CharField()
    error_code = serializers.CharField()
    actor = serializers.CharField()
    identifier = serializers.CharField()
    session_token_id = serializers.UUIDField(allow_null=True)
    config_id = serializers.UUIDField(allow_null=True)
    connection_name = serializers.CharField()
    account_id = serializers.IntegerField(allow_null=True)
    tool_name = serializers.CharField()
    latency_ms = serializers.IntegerField(allow_null=True)
    request_id = serializers.CharField()
    agent_run_id = serializers.CharField()
    extra = serializers.JSONField()


class AuditEventListApi(TenantAPIView):
    class FilterSerializer(AuditFilterSerializer):
        cursor = serializers.CharField(required=False, max_length=200)
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=200, default=DEFAULT_LIMIT
        )

    class PageSerializer(serializers.Serializer):
        data = AuditEventOutput(many=True)
        next_cursor = serializers.CharField(allow_null=True)

    @extend_schema(
        parameters=[FilterSerializer], responses=PageSerializer, operation_id="audit_events_list"
    )
    def get(self, request: Request) -> Response:
        validated = _filters(request, self.FilterSerializer)
        page = audit_event_page(
            filters=_audit_filters(validated),
            cursor=validated.get("cursor"),
            limit=validated["limit"],
        )
        return Response(
            {
                "data": AuditEventOutput(page.items, many=True).data,
                "next_cursor": page.next_cursor,
            }
        )


class AuditEventDetailApi(TenantAPIView):
    @extend_schema(responses=AuditEventOutput, operation_id="audit_events_retrieve")
    def get(self, request: Request, event_id: int) -> Response:
        return Response(AuditEventOutput(audit_event_get(event_id=event_id)).data)


class _IgnoreFormatNegotiation(BaseContentNegotiation):
    """Always JSON (for errors): ``?format=`` names the export format, not a DRF renderer."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None


class AuditEventExportApi(TenantAPIView):
    # DRF reads ``?format=`` as a renderer override (URL_FORMAT_OVERRIDE) and would answer 404
    # for "csv"; this view negotiates nothing and returns a Django streaming response itself.
    content_negotiation_class = _IgnoreFormatNegotiation

    class FilterSerializer(AuditFilterSerializer):
        format = serializers.ChoiceField(choices=sorted(FORMATS), default="csv")

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header."),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One JSON object per line."
            ),
        },
        operation_id="audit_events_export",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        validated = _filters(request, self.FilterSerializer)
        fmt = validated["format"]
        qs = audit_events_filtered(filters=_audit_filters(validated))
        # Under ASGI Django would read a sync iterator into a list before sending it.
        is_asgi = isinstance(request._request, ASGIRequest)
        parts = (
            export_parts_async(self.tenant, qs, fmt)
            if is_asgi
            else export_parts(self.tenant, qs, fmt)
        )
        response = StreamingHttpResponse(parts, content_type=FORMATS[fmt])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = (
            f'attachment; filename="audit-{self.tenant.slug}-{stamp}.{fmt}"'
        )
        response["Cache-Control"] = "no-store"
        return response
