"""Tenant-schema models: connections, virtual servers (McpConfig) and session tokens."""

from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models

NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9_-]{1,100}$", "Use 1–100 characters of a–z, 0–9, '_' and '-'."
)


class Connection(models.Model):
    """A tenant's configured connector, addressed by its unique ``name``.

    Non-secret settings live in ``settings``; the client secret and shared headers live in the
    vault (``vault.Secret`` owned by this row).
    """

    class AuthType(models.TextChoices):
        OAUTH2 = "oauth2"  # per-user tokens via the connect flow
        API_KEY = "api_key"  # per-user key pasted in the connect form
        NONE = "none"  # no credential (demo, an open upstream)
        SHARED_HEADER = "shared_header"  # one header for everybody, kept in the vault

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    connector = models.CharField(max_length=50)
    auth_type = models.CharField(max_length=20, choices=AuthType.choices)
    settings = models.JSONField(default=dict, blank=True)
    # Discovered tool definitions (upstream MCP servers): [{name, description, inputSchema, …}].
    tools = models.JSONField(default=list, blank=True)
    tools_synced_at = models.DateTimeField(null=True, blank=True)
    tools_changes = models.JSONField(default=dict, blank=True)
    # An OAuth-protected upstream MCP server: what discovery found and how vmcp registered
    # ({"discovery": {...}, "registration": {method, client_id, ...}}); bounded, never a secret
    # (a registered client secret lives in the vault). Written by the platform, not the admin.
    upstream_oauth = models.JSONField(default=dict, blank=True)
    # Discovered with the tools (upstream MCP servers): MCP Prompt, Resource and
    # ResourceTemplate objects, and the server's declared capabilities (subscribe, completions).
    prompts = models.JSONField(default=list, blank=True)
    resources = models.JSONField(default=list, blank=True)
    resource_templates = models.JSONField(default=list, blank=True)
    upstream_capabilities = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_user_credentials(self) -> bool:
        return self.auth_type in {self.AuthType.OAUTH2, self.AuthType.API_KEY}


class McpConfig(models.Model):
    """A virtual MCP server: which connections and exactly which tools an agent role sees."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True, max_length=2000)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per end user; empty means the tenant's default."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ToolMapping(models.Model):
    """One connection of a config: its exposed tools (``["*"]`` = all, including future ones)."""

    ALL_TOOLS = "*"

    config = models.ForeignKey(McpConfig, on_delete=models.CASCADE, related_name="mappings")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="mappings")
    tools = models.JSONField(default=list)
    # {original_tool_name: {"name": exposed_name?, "description": exposed_description?}}
    overrides = models.JSONField(default=dict, blank=True)
    # {original_tool_name: calls per minute per end user}, e.g. {"gmail_send_email": 10}.
    tool_rate_limits = models.JSONField(default=dict, blank=True)
    # The connection's prompts (by name) and resources (by URI or URI template) this config
    # exposes; ``["*"]`` = all of them. Empty: none (default-deny, as for tools).
    prompts = models.JSONField(default=list, blank=True)
    resources = models.JSONField(default=list, blank=True)
    # {original_prompt_name: {"name": exposed_name?, "description": exposed_description?}}
    prompt_overrides = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["config", "connection"], name="one_mapping_per_connection"
            )
        ]

    @property
    def exposes_all(self) -> bool:
        return self.ALL_TOOLS in self.tools


class SessionToken(models.Model):
    """A short-lived bearer token bound to one config and one end user. Only its hash is kept."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    config = models.ForeignKey(McpConfig, on_delete=models.CASCADE, related_name="tokens")
    identifier = models.CharField(max_length=255)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["config", "identifier"], name="token_config_identifier"),
            models.Index(fields=["expires_at"], name="token_expires"),
        ]
