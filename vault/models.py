"""Tenant-schema models: the tenant's data keys, encrypted secrets, connected accounts, and the
short-lived records of the connect flow."""

from __future__ import annotations

from django.db import models


class DataKey(models.Model):
    """A version of this tenant's data key, wrapped by a master key (never stored in the clear)."""

    version = models.PositiveIntegerField(unique=True)
    master_version = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]


class Secret(models.Model):
    """One encrypted value; the ciphertext is bound to owner, field and key version (AAD)."""

    class OwnerType(models.TextChoices):
        CONNECTION = "connection"
        ACCOUNT = "account"
        OAUTH_STATE = "oauth_state"
        # The tenant's OpenID provider (gateway.models.OAuthSettings): its client secret.
        IDENTITY_SOURCE = "identity_source"

    owner_type = models.CharField(max_length=20, choices=OwnerType.choices)
    owner_id = models.BigIntegerField()
    field = models.CharField(max_length=64)
    key_version = models.PositiveIntegerField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "owner_id", "field"], name="one_secret_per_field"
            )
        ]
        indexes = [models.Index(fields=["key_version"], name="secret_key_version")]


class ConnectedAccount(models.Model):
    """One end user's account on one connection. Its tokens or key live in the vault."""

    class Status(models.TextChoices):
        PENDING_AUTH = "PENDING_AUTH"
        ACTIVE = "ACTIVE"
        EXPIRED = "EXPIRED"
        REVOKED = "REVOKED"
        ERROR = "ERROR"

    connection = models.ForeignKey(
        "configs.Connection", on_delete=models.CASCADE, related_name="accounts"
    )
    identifier = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_AUTH)
    scopes = models.JSONField(default=list, blank=True)
    provider_user_id = models.CharField(max_length=255, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Unlike ``revoked_at`` this survives reconnecting: connect links, OAuth states and session
    # tokens issued at or before it never work for this account again (the revocation epoch).
    last_revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "identifier"], name="one_account_per_user"
            )
        ]
        indexes = [models.Index(fields=["identifier"], name="account_identifier")]


class ConnectLink(models.Model):
    """A single-use link an end user opens to connect an account. Only its hash is kept."""

    account = models.ForeignKey(ConnectedAccount, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    # Scopes this link asks for beyond the connection's own: an upstream MCP server's step-up
    # challenge (``insufficient_scope``) sends the user a link that asks for the union.
    scopes = models.JSONField(default=list, blank=True)


class OAuthState(models.Model):
    """A one-time OAuth ``state``; its PKCE verifier is a vault secret owned by this row."""

    account = models.ForeignKey(ConnectedAccount, on_delete=models.CASCADE, related_name="states")
    link = models.ForeignKey(ConnectLink, on_delete=models.SET_NULL, null=True, blank=True)
    state_hash = models.CharField(max_length=64, unique=True)
    # SHA-256 of the random value in the initiating browser's cookie (RFC 9700 §4.7): the
    # callback must come from that browser. Empty (states from before the column) never matches.
    browser_hash = models.CharField(max_length=64, blank=True, default="")
    redirect_uri = models.URLField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
