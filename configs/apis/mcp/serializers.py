"""Request and response shapes of the ``mcp/configs`` and session-token APIs."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vmcp_platform.pagination import DEFAULT_LIMIT

ACCOUNT_STATUSES = [
    "ACTIVE",
    "PENDING_AUTH",
    "EXPIRED",
    "REVOKED",
    "ERROR",
    "NOT_CONNECTED",
    "NOT_REQUIRED",
]


class PageQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=DEFAULT_LIMIT)
    cursor = serializers.CharField(required=False, help_text="next_cursor of the previous page.")


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
    tool_rate_limits = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=100_000),
        required=False,
        help_text="Per original tool name: calls per minute per end user on this server "
        '(e.g. {"gmail_send_email": 10}).',
    )
    prompts = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text='Upstream MCP connections: prompt names the agent may list and get, or ["*"].'
        " Default: none.",
    )
    prompt_overrides = serializers.DictField(
        child=OverrideSerializer(),
        required=False,
        help_text="Per original prompt name: the name/description the agent sees instead.",
    )
    resources = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Upstream MCP connections: resource URIs or URI templates the agent may list"
        ' and read, or ["*"]. Default: none.',
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


class MintedOutput(serializers.Serializer):
    id = serializers.UUIDField()
    token = serializers.CharField(help_text="The session token, shown only in this response.")
    expires_at = serializers.DateTimeField()
    mcp_server_url = serializers.URLField()
    identifier = serializers.CharField()


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
    connected_account_status = serializers.ChoiceField(
        choices=ACCOUNT_STATUSES, help_text="Same as status (the name Scalekit's API uses)."
    )
    authentication_link = serializers.URLField(
        allow_null=True,
        help_text="Same as authorization_url, null without include_auth_link (Scalekit's name).",
    )


class ReadinessOutput(serializers.Serializer):
    identifier = serializers.CharField()
    ready = serializers.BooleanField(help_text="Every connection is ACTIVE or NOT_REQUIRED.")
    connections = ConnectionStatusOutput(many=True)


def iso(value: datetime) -> str:
    """A datetime as the API writes it everywhere (DRF's DateTimeField representation)."""
    return serializers.DateTimeField().to_representation(value)
