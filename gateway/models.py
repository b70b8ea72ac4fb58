"""Tenant-schema models of the OAuth authorization server for interactive MCP clients.

The gateway owns them (DESIGN.md: gateway owns "the OAuth authorization server for interactive
clients"); they sit beside the gateway's code rather than in ``vault.models`` because nothing in
``vault`` or ``accounts`` reads them, and a separate migration history keeps the vault's own
apart. The one secret here, the identity provider's client secret, lives in the vault
(``vault.Secret`` with owner type ``identity_source``). Every other credential (authorization
code, refresh token) is stored only as a SHA-256 hash.
"""

from __future__ import annotations

import uuid

from django.db import models


class OAuthSettings(models.Model):
    """The tenant's one row: its identity source (an OpenID provider) and the AS's policy.

    Without an ``idp_issuer`` the tenant has no interactive sign-in: tokens come only from its
    backend (the metadata says so instead of advertising endpoints that cannot work).
    """

    idp_issuer = models.URLField(max_length=500, blank=True)
    idp_client_id = models.CharField(max_length=255, blank=True)
    # Which claim of the signed-in user becomes the vmcp ``identifier``.
    idp_identifier_claim = models.CharField(max_length=64, default="email")
    idp_allowed_email_domains = models.JSONField(default=list, blank=True)
    cimd_enabled = models.BooleanField(default=True)
    dcr_enabled = models.BooleanField(default=True)
    # fnmatch patterns a client's redirect URI must match (empty: the defaults in
    # gateway.oauth.policy, loopback and https).
    redirect_uri_patterns = models.JSONField(default=list, blank=True)
    # Host names (or ``*.example.com``) a CIMD client_id may live on; empty: any public host.
    client_domains = models.JSONField(default=list, blank=True)
    access_token_seconds = models.PositiveIntegerField(default=3600)
    refresh_token_days = models.PositiveIntegerField(default=30)
    updated_at = models.DateTimeField(auto_now=True)

    @property
    def has_identity_source(self) -> bool:
        return bool(self.idp_issuer and self.idp_client_id)


class OAuthClient(models.Model):
    """A client known to this tenant's AS: registered by DCR, or a fetched CIMD document."""

    class Kind(models.TextChoices):
        DCR = "dcr"
        CIMD = "cimd"

    client_id = models.CharField(max_length=500, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    client_name = models.CharField(max_length=200, blank=True)
    client_uri = models.CharField(max_length=500, blank=True)
    redirect_uris = models.JSONField(default=list)
    # The registration as received (bounded and sanitised), for display and later checks.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    fetched_at = models.DateTimeField(null=True, blank=True)  # CIMD: the cache's age

    class Meta:
        ordering = ["client_id"]


class OAuthGrant(models.Model):
    """One user's consent for one client on one virtual server: the refresh-token family.

    Revoking it (the user, an admin, or a replayed refresh token) revokes every access token
    issued under it and every refresh token of the family.
    """

    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="grants")
    config = models.ForeignKey(
        "configs.McpConfig", on_delete=models.CASCADE, related_name="oauth_grants"
    )
    identifier = models.CharField(max_length=255)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["identifier"], name="oauth_grant_identifier")]


class OAuthAuthorization(models.Model):
    """One run of ``authorize``: from the client's request, through the IdP, to the code.

    The browser that started it holds a random value in a cookie (only its hash is here); the
    IdP callback and the consent form are accepted from that browser only.
    """

    class Status(models.TextChoices):
        SIGNING_IN = "signing_in"  # sent to the IdP
        CONSENT = "consent"  # signed in, the consent page is shown
        CODE_ISSUED = "code_issued"
        CODE_USED = "code_used"
        DENIED = "denied"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="+")
    config = models.ForeignKey("configs.McpConfig", on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.CharField(max_length=500)
    client_state = models.CharField(max_length=500, blank=True)
    code_challenge = models.CharField(max_length=128)
    scopes = models.JSONField(default=list, blank=True)
    browser_hash = models.CharField(max_length=64)
    idp_state_hash = models.CharField(max_length=64, unique=True)
    idp_nonce = models.CharField(max_length=64)
    identifier = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SIGNING_IN)
    code_hash = models.CharField(max_length=64, blank=True, db_index=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    grant = models.ForeignKey(OAuthGrant, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)


class OAuthRefreshToken(models.Model):
    """One refresh token of a grant's family; rotated on use, never valid twice."""

    grant = models.ForeignKey(OAuthGrant, on_delete=models.CASCADE, related_name="refresh_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    # The session token (access token) issued together with this refresh token.
    access_token_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
