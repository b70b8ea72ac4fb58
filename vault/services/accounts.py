"""Connected accounts: creation, revocation, expiry, API keys.

An account's tokens (``oauth_tokens``, a JSON string) or key (``api_key``) live in the vault,
owned by the account row; nothing here ever logs, audits or returns them. The credential for a
call (refreshed first when needed) is ``vault.services.credentials``, which builds on this module
and on ``refresh``, so neither of those imports the other's caller.

Revocation is final for everything issued before it. ``account_revoke`` sets the account's
revocation epoch (``last_revoked_at``, never cleared): connect links and OAuth flows created at
or before it can never (re)connect the account, and a session token minted at or before it can
never again use this account, even after the user reconnects with a new link (the gateway
refuses such a call with ``token_predates_revocation``; the backend mints a new token). The
token's other connections are unaffected, as are other users.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import EventType, Outcome
from audit.services import audit_record
from configs.models import Connection
from vault.models import ConnectedAccount, OAuthState, Secret
from vault.secrets import secret_delete, secret_get, secret_put, secrets_delete_for_owners
from vmcp_platform.errors import ApplicationError, ValidationFailed

from .provider import oauth_client_for, revoke_at_provider

logger = logging.getLogger(__name__)

ACCOUNT = Secret.OwnerType.ACCOUNT
OAUTH_STATE = Secret.OwnerType.OAUTH_STATE
TOKENS_FIELD = "oauth_tokens"
API_KEY_FIELD = "api_key"
# Refresh an access token that expires within this window, before it is used.
REFRESH_MARGIN = timedelta(minutes=5)
MAX_API_KEY_LENGTH = 8192


def _validate_identifier(identifier: Any) -> str:
    if not isinstance(identifier, str) or not identifier or len(identifier) > 255:
        raise ValidationFailed(
            "identifier must be 1–255 characters.", details={"field": "identifier"}
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in identifier):
        raise ValidationFailed(
            "identifier must not contain control characters.", details={"field": "identifier"}
        )
    return identifier


def account_get_or_create(
    *, connection: Connection, identifier: str, actor: str
) -> ConnectedAccount:
    """The (connection, identifier) account, created in PENDING_AUTH when new."""
    identifier = _validate_identifier(identifier)
    if not connection.needs_user_credentials:
        raise ValidationFailed(
            f"Connection '{connection.name}' needs no per-user account"
            f" (auth type {connection.auth_type}).",
            code="connection_needs_no_account",
            details={"connection_name": connection.name},
        )
    existing = ConnectedAccount.objects.filter(connection=connection, identifier=identifier).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        account, created = ConnectedAccount.objects.select_related("connection").get_or_create(
            connection=connection, identifier=identifier
        )
        if created:
            audit_record(
                event_type=EventType.ACCOUNT_CREATED,
                actor=actor,
                identifier=identifier,
                connection_name=connection.name,
                account_id=account.pk,
            )
    return account


# ------------------------------------------------------------------ tokens in the vault


def account_tokens(account: ConnectedAccount) -> dict[str, Any] | None:
    """The account's OAuth tokens from the vault (in memory only, for a provider call)."""
    raw = secret_get(owner_type=ACCOUNT, owner_id=account.pk, field=TOKENS_FIELD)
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None


def account_tokens_store(
    *, account: ConnectedAccount, token: dict[str, Any], previous: dict[str, Any] | None = None
) -> None:
    """Save a token response in the vault and its non-secret facts on the row (caller saves).

    A refresh that returns no new refresh token keeps the previous one (Google does that).
    """
    refresh_token = token.get("refresh_token") or (previous or {}).get("refresh_token")
    stored = {
        "access_token": str(token["access_token"]),
        "refresh_token": str(refresh_token) if refresh_token else None,
        "token_type": str(token.get("token_type") or "Bearer"),
    }
    secret_put(
        owner_type=ACCOUNT, owner_id=account.pk, field=TOKENS_FIELD, value=json.dumps(stored)
    )
    account.token_expires_at = _expires_at(token.get("expires_in"))
    scopes = _scopes(token.get("scope"))
    if scopes:
        account.scopes = scopes


def _expires_at(expires_in: Any) -> datetime | None:
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        return None  # a token without a lifetime (GitHub OAuth apps) does not expire
    return timezone.now() + timedelta(seconds=max(seconds, 0))


def _scopes(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(s) for s in value if s]
    if not isinstance(value, str):
        return []
    return [s for s in value.replace(",", " ").split() if s]


# ------------------------------------------------------------------ state changes


def account_store_api_key(
    *, account: ConnectedAccount, api_key: str, actor: str
) -> ConnectedAccount:
    """Keep the user's API key in the vault and mark the account ACTIVE."""
    if account.connection.auth_type != Connection.AuthType.API_KEY:
        raise ValidationFailed(
            f"Connection '{account.connection.name}' does not take an API key.",
            code="connection_not_api_key",
        )
    api_key = (api_key or "").strip()
    if not api_key or len(api_key) > MAX_API_KEY_LENGTH or any(ord(c) < 32 for c in api_key):
        raise ValidationFailed("Paste a non-empty API key.", details={"field": "api_key"})
    with transaction.atomic():
        account = ConnectedAccount.objects.select_for_update().get(pk=account.pk)
        secret_delete(owner_type=ACCOUNT, owner_id=account.pk, field=TOKENS_FIELD)
        secret_put(owner_type=ACCOUNT, owner_id=account.pk, field=API_KEY_FIELD, value=api_key)
        now = timezone.now()
        account.status = ConnectedAccount.Status.ACTIVE
        account.connected_at = now
        account.revoked_at = None
        account.token_expires_at = None
        account.last_error = ""
        account.save()
        audit_record(
            event_type=EventType.ACCOUNT_CONNECTED,
            actor=actor,
            identifier=account.identifier,
            connection_name=account.connection.name,
            account_id=account.pk,
            extra={"method": "api_key"},
        )
    return account


def account_issued_before_revocation(account: ConnectedAccount, issued_at: datetime) -> bool:
    """True when something issued at ``issued_at`` (a link, a flow) predates a revocation."""
    return account.last_revoked_at is not None and issued_at <= account.last_revoked_at


def account_revoke(*, account: ConnectedAccount, actor: str) -> ConnectedAccount:
    """Mark the account REVOKED, destroy its secrets, and revoke at the provider (best effort).

    The provider call comes first, while the token is still readable; its failure is recorded
    in ``last_error`` and the revocation stands regardless. Pending connect links, OAuth flows
    and session tokens issued before now are void for this account for good (module docstring).
    """
    connection = account.connection
    provider_result = "not_applicable"
    provider_problem = ""
    if connection.auth_type == Connection.AuthType.OAUTH2:
        provider_result, provider_problem = _revoke_at_provider(account)
    with transaction.atomic():
        account = (
            ConnectedAccount.objects.select_for_update()
            .select_related("connection")
            .get(pk=account.pk)
        )
        secret_delete(owner_type=ACCOUNT, owner_id=account.pk)
        # In-flight flows lose their PKCE verifiers too (the epoch already voids them).
        flows = list(OAuthState.objects.filter(account=account).values_list("pk", flat=True))
        flows_voided = secrets_delete_for_owners(owner_type=OAUTH_STATE, owner_ids=flows)
        now = timezone.now()
        account.status = ConnectedAccount.Status.REVOKED
        account.revoked_at = now
        account.last_revoked_at = now
        account.token_expires_at = None
        account.last_error = (
            f"Revoked here; revoking at the provider failed: {provider_problem}"
            if provider_problem
            else ""
        )
        account.save()
        audit_record(
            event_type=EventType.ACCOUNT_REVOKED,
            actor=actor,
            identifier=account.identifier,
            connection_name=connection.name,
            account_id=account.pk,
            extra={
                "provider_revocation": provider_result,
                **({"flows_voided": flows_voided} if flows_voided else {}),
            },
        )
    return account


def _revoke_at_provider(account: ConnectedAccount) -> tuple[str, str]:
    """("ok" | "failed" | "not_supported" | "no_token", problem) for the provider's revocation."""
    try:
        tokens = account_tokens(account)
    except ApplicationError:
        return "failed", "the stored token could not be read"
    if not tokens:
        return "no_token", ""
    try:
        client = oauth_client_for(account.connection)
    except ApplicationError as exc:
        return "failed", exc.message
    if not client.revoke_url:
        return "not_supported", ""
    # Google revokes the whole grant from the refresh token; the others take the access token.
    token = tokens.get("access_token")
    if client.spec.revoke_style == "rfc7009" and tokens.get("refresh_token"):
        token = tokens["refresh_token"]
    problem = revoke_at_provider(client, str(token))
    if problem:
        logger.warning(
            "provider revocation failed for account %s on %s: %s",
            account.pk,
            account.connection.name,
            problem,
        )
        return "failed", problem
    return "ok", ""


def account_mark_expired(
    *, account: ConnectedAccount, error: str, actor: str = "system", code: str = "expired"
) -> ConnectedAccount:
    """The provider rejected the credential: EXPIRED with a clear ``last_error``; never deleted."""
    with transaction.atomic():
        account = (
            ConnectedAccount.objects.select_for_update()
            .select_related("connection")
            .get(pk=account.pk)
        )
        if account.status == ConnectedAccount.Status.REVOKED:
            return account  # revocation is final; don't overwrite it
        account.status = ConnectedAccount.Status.EXPIRED
        account.last_error = error[:2000]
        account.save(update_fields=["status", "last_error", "updated_at"])
        audit_record(
            event_type=EventType.ACCOUNT_REFRESH_FAILED,
            outcome=Outcome.ERROR,
            error_code=code,
            actor=actor,
            identifier=account.identifier,
            connection_name=account.connection.name,
            account_id=account.pk,
            extra={"status": account.status},
        )
    return account


# ------------------------------------------------------------------ shared checks


def needs_refresh(account: ConnectedAccount, margin: timedelta = REFRESH_MARGIN) -> bool:
    """True when the access token expires within ``margin`` (tokens without expiry never do)."""
    expires = account.token_expires_at
    return expires is not None and expires - timezone.now() < margin


def require_active(
    account: ConnectedAccount | None, connection: Connection, identifier: str
) -> None:
    """Raise ``account_expired`` / ``no_active_account`` (409) unless the account is ACTIVE."""
    if account is not None and account.status == ConnectedAccount.Status.ACTIVE:
        return
    if account is not None and account.status == ConnectedAccount.Status.EXPIRED:
        raise ApplicationError(
            f"The account of '{identifier}' on '{connection.name}' has expired;"
            " the user must reconnect.",
            code="account_expired",
            status=409,
            details={
                "connection_name": connection.name,
                "identifier": identifier,
                "status": account.status,
            },
        )
    raise no_active_account(connection, identifier, account.status if account else None)


def token_predates_revocation(connection: Connection, identifier: str) -> ApplicationError:
    """A session token minted before this account's last revocation: never again usable here."""
    return ApplicationError(
        f"This session token was minted before the account of '{identifier}' on"
        f" '{connection.name}' was revoked, so it can no longer use that account;"
        " mint a new session token.",
        code="token_predates_revocation",
        status=403,
        details={"connection_name": connection.name, "identifier": identifier},
    )


def no_active_account(
    connection: Connection, identifier: str, status: str | None
) -> ApplicationError:
    return ApplicationError(
        f"'{identifier}' has no active account on '{connection.name}'.",
        code="no_active_account",
        status=409,
        details={"connection_name": connection.name, "identifier": identifier, "status": status},
    )
