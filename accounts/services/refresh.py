"""Refreshing OAuth access tokens before they expire, exactly once per expiry.

Concurrent callers serialise on the account's row lock; whoever gets it second re-reads the row
and finds the fresh token, so the provider sees one refresh request. The rotated refresh token
is written in the same transaction as the new expiry, so a crash can't leave a spent refresh
token behind.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from audit.models import EventType, Outcome
from audit.services import audit_record
from vault.models import ConnectedAccount
from vmcp_platform.errors import ApplicationError, ProviderError

from .accounts import (
    REFRESH_MARGIN,
    account_tokens,
    account_tokens_store,
    needs_refresh,
    require_active,
)
from .provider import TokenEndpointError, oauth_client_for, token_request

logger = logging.getLogger(__name__)

REFRESH_ATTEMPTS = 3
REFRESH_BACKOFF_SECONDS = 0.25


def account_refresh(
    *, account: ConnectedAccount, margin: timedelta = REFRESH_MARGIN, actor: str = "system"
) -> str:
    """Refresh the account's access token if it expires within ``margin``; returns it.

    ``invalid_grant`` marks the account EXPIRED (never deletes it) and raises
    ``account_expired``; network errors and 5xx are retried with backoff, then raise
    ``refresh_failed`` unless the current token is still valid.
    """
    failure: ApplicationError | None = None
    with transaction.atomic():
        locked = (
            ConnectedAccount.objects.select_for_update()
            .select_related("connection")
            .get(pk=account.pk)
        )
        connection = locked.connection
        require_active(locked, connection, locked.identifier)
        tokens = account_tokens(locked) or {}
        # Re-read after the lock: another caller may have refreshed while we waited.
        if not needs_refresh(locked, margin) and tokens.get("access_token"):
            return str(tokens["access_token"])
        still_valid = locked.token_expires_at is not None and locked.token_expires_at > (
            timezone.now()
        )
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            if still_valid and tokens.get("access_token"):
                return str(tokens["access_token"])
            failure = _expire(
                locked,
                "The access token expired and the provider gave no refresh token;"
                " the user must reconnect.",
                code="no_refresh_token",
                actor=actor,
            )
        else:
            client = oauth_client_for(connection)
            spec = client.spec
            if spec.refresh_url:
                client = replace(client, token_url=spec.refresh_url)
            path = (
                spec.refresh_response_path
                if spec.refresh_response_path is not None
                else spec.token_response_path
            )
            try:
                token = token_request(
                    client,
                    {"grant_type": "refresh_token", "refresh_token": str(refresh_token)},
                    response_path=path,
                    attempts=REFRESH_ATTEMPTS,
                    backoff_seconds=REFRESH_BACKOFF_SECONDS,
                )
            except TokenEndpointError as exc:
                if exc.kind == "invalid_grant":
                    failure = _expire(
                        locked,
                        f"The provider refused the refresh token ({exc.provider_error});"
                        " the user must reconnect.",
                        code="invalid_grant",
                        actor=actor,
                    )
                else:
                    failure = _record_transient(locked, exc, actor=actor)
                    if still_valid and tokens.get("access_token"):
                        return str(tokens["access_token"])
            else:
                account_tokens_store(account=locked, token=token, previous=tokens)
                locked.refreshed_at = timezone.now()
                locked.last_error = ""
                locked.save()
                audit_record(
                    event_type=EventType.ACCOUNT_REFRESHED,
                    actor=actor,
                    identifier=locked.identifier,
                    connection_name=connection.name,
                    account_id=locked.pk,
                    extra={"rotated": bool(token.get("refresh_token"))},
                )
                return str(token["access_token"])
    # Raised after the block so the EXPIRED mark and its audit event are committed.
    assert failure is not None
    raise failure


def _expire(account: ConnectedAccount, message: str, *, code: str, actor: str) -> ApplicationError:
    account.status = ConnectedAccount.Status.EXPIRED
    account.last_error = message
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
    return ApplicationError(
        f"The account of '{account.identifier}' on '{account.connection.name}' has expired;"
        " the user must reconnect.",
        code="account_expired",
        status=409,
        details={
            "connection_name": account.connection.name,
            "identifier": account.identifier,
            "status": account.status,
        },
    )


def _record_transient(
    account: ConnectedAccount, exc: TokenEndpointError, *, actor: str
) -> ApplicationError:
    account.last_error = f"Refreshing the access token failed: {exc.message}"
    account.save(update_fields=["last_error", "updated_at"])
    audit_record(
        event_type=EventType.ACCOUNT_REFRESH_FAILED,
        outcome=Outcome.ERROR,
        error_code="provider_unavailable" if exc.kind == "transient" else "refresh_refused",
        actor=actor,
        identifier=account.identifier,
        connection_name=account.connection.name,
        account_id=account.pk,
        extra={"attempts": REFRESH_ATTEMPTS if exc.kind == "transient" else 1},
    )
    logger.warning(
        "token refresh failed for account %s on %s: %s",
        account.pk,
        account.connection.name,
        exc.message,
    )
    return ProviderError(
        f"Could not refresh the access token of '{account.identifier}' on"
        f" '{account.connection.name}': {exc.message}.",
        code="refresh_failed",
    )


def accounts_refresh_expiring(*, within_seconds: int = 600) -> dict[str, int]:
    """Refresh every ACTIVE OAuth account of the current tenant expiring soon (for the task)."""
    margin = timedelta(seconds=within_seconds)
    horizon = timezone.now() + margin
    ids = list(
        ConnectedAccount.objects.filter(
            status=ConnectedAccount.Status.ACTIVE,
            connection__auth_type="oauth2",
            token_expires_at__isnull=False,
            token_expires_at__lte=horizon,
        )
        .order_by("token_expires_at")
        .values_list("pk", flat=True)[:500]
    )
    counts = {"refreshed": 0, "failed": 0}
    for pk in ids:
        account = ConnectedAccount.objects.filter(pk=pk).first()
        if account is None:
            continue
        try:
            account_refresh(account=account, margin=margin)
        except ApplicationError:
            counts["failed"] += 1
        else:
            counts["refreshed"] += 1
    return counts
