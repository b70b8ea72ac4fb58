"""The audit trail: one row per action that matters, in the tenant's own schema."""

from __future__ import annotations

from django.db import models


class EventType(models.TextChoices):
    TOOL_CALLED = "tool.called"
    TOOL_DENIED = "tool.denied"
    # One per tools/list first page: how many tools (and tokens of definitions) the agent got.
    TOOLS_LISTED = "tools.listed"
    TOKEN_MINTED = "token.minted"
    TOKEN_REVOKED = "token.revoked"
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_CONNECTED = "account.connected"
    ACCOUNT_CONNECT_FAILED = "account.connect_failed"
    ACCOUNT_REVOKED = "account.revoked"
    ACCOUNT_REFRESHED = "account.refreshed"
    ACCOUNT_REFRESH_FAILED = "account.refresh_failed"
    CONNECT_LINK_CREATED = "connect_link.created"
    CONNECTION_CREATED = "connection.created"
    CONNECTION_CHANGED = "connection.changed"
    CONNECTION_DELETED = "connection.deleted"
    CONNECTION_SYNCED = "connection.synced"
    CONFIG_CREATED = "config.created"
    CONFIG_CHANGED = "config.changed"
    CONFIG_DELETED = "config.deleted"
    APIKEY_CREATED = "apikey.created"
    APIKEY_REVOKED = "apikey.revoked"
    AUTH_FAILED = "auth.failed"
    SETTINGS_CHANGED = "settings.changed"
    MEMBER_CHANGED = "member.changed"
    VAULT_ROTATED = "vault.rotated"
    # The OAuth authorization server for interactive clients (gateway.oauth).
    OAUTH_CLIENT_REGISTERED = "oauth.client_registered"
    OAUTH_GRANTED = "oauth.granted"
    OAUTH_REFRESHED = "oauth.refreshed"
    OAUTH_REVOKED = "oauth.revoked"
    OAUTH_REFUSED = "oauth.refused"


class Outcome(models.TextChoices):
    OK = "ok"
    ERROR = "error"
    DENIED = "denied"


class AuditEvent(models.Model):
    occurred_at = models.DateTimeField(db_index=True)
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.OK)
    error_code = models.CharField(max_length=64, blank=True)
    # Who acted: "apikey:<id>:<name>", "user:<email>", "identifier:<id>" or "system".
    actor = models.CharField(max_length=255, blank=True)
    # The end user the action was for or by.
    identifier = models.CharField(max_length=255, blank=True)
    session_token_id = models.UUIDField(null=True, blank=True)
    config_id = models.UUIDField(null=True, blank=True)
    connection_name = models.CharField(max_length=100, blank=True)
    account_id = models.BigIntegerField(null=True, blank=True)
    tool_name = models.CharField(max_length=128, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    agent_run_id = models.CharField(max_length=128, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at", "-id"], name="audit_time_desc"),
            models.Index(fields=["identifier", "-occurred_at"], name="audit_identifier"),
            models.Index(fields=["tool_name", "-occurred_at"], name="audit_tool"),
            models.Index(fields=["outcome", "-occurred_at"], name="audit_outcome"),
            models.Index(fields=["config_id", "-occurred_at"], name="audit_config"),
            models.Index(fields=["event_type", "-occurred_at"], name="audit_event_type"),
            models.Index(fields=["connection_name", "-occurred_at"], name="audit_connection"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.event_type} {self.outcome}"
