"""The token endpoint's two grants, revocation, and revoking a grant from the management side.

The access token is a vmcp session token for the grant's config and identifier, minted by
``accounts.services.sessions.session_token_mint`` (so the same readiness check, audit, revocation
and rate limits apply as to a backend-minted one). The refresh token rotates on every use; one
presented twice revokes its whole family (the grant), with every access token issued under it
(OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.db import transaction
from django.utils import timezone

from accounts.services.sessions import session_token_mint
from audit.models import EventType, Outcome
from audit.services import audit_record
from configs.models import SessionToken
from configs.services.tokens import session_token_revoke
from vmcp_platform import tokens
from vmcp_platform.errors import ApplicationError
from vmcp_platform.sanitize import wire_text

from ..models import OAuthAuthorization, OAuthClient, OAuthGrant, OAuthRefreshToken, OAuthSettings
from .clients import client_resolve
from .errors import OAuthError, invalid_grant, invalid_request, invalid_target
from .policy import SCOPE, config_for_resource

REFRESH_PREFIX = "vmcp_rt_"


def _actor(client: OAuthClient) -> str:
    return f"oauth:{client.client_id}"[:255]


def _refused(error: OAuthError, *, client_id: str, grant: OAuthGrant | None = None) -> OAuthError:
    audit_record(
        event_type=EventType.OAUTH_REFUSED,
        outcome=Outcome.DENIED,
        error_code=error.error,
        actor=f"oauth:{client_id}"[:255],
        identifier=grant.identifier if grant else "",
        config_id=grant.config_id if grant else None,
        extra={"reason": error.description[:300], "grant_id": grant.pk if grant else None},
    )
    return error


def _client(form: Any, row: OAuthSettings) -> OAuthClient:
    """The requesting client (from the cache for CIMD), its refusal audited."""
    client_id = form.get("client_id") or ""
    try:
        return client_resolve(client_id=client_id, row=row, refresh=False)
    except OAuthError as exc:
        raise _refused(exc, client_id=wire_text(client_id, max_len=200)) from None


@dataclass(frozen=True)
class Issued:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }


def _issue(*, grant: OAuthGrant, row: OAuthSettings) -> Issued:
    """Mint the session token and the next refresh token of the family (inside a transaction)."""
    try:
        minted = session_token_mint(
            config=grant.config,
            identifier=grant.identifier,
            expiry_seconds=row.access_token_seconds,
            actor=_actor(grant.client),
        )
    except ApplicationError as exc:
        # e.g. an account the server needs was revoked since the consent.
        raise invalid_grant(f"No token can be issued: {exc.message}") from None
    refresh = tokens.generate(REFRESH_PREFIX)
    OAuthRefreshToken.objects.create(
        grant=grant,
        token_hash=tokens.hash_token(refresh),
        access_token_id=minted.token.pk,
        expires_at=timezone.now() + timedelta(days=row.refresh_token_days),
    )
    grant.last_used_at = timezone.now()
    grant.save(update_fields=["last_used_at"])
    return Issued(
        access_token=minted.secret,
        refresh_token=refresh,
        expires_in=row.access_token_seconds,
        scope=" ".join(grant.scopes or [SCOPE]),
    )


def _check_resource(form: Any, *, tenant_slug: str, grant: OAuthGrant) -> None:
    resource = form.get("resource")
    if resource is None:
        return  # the grant is bound to its server already
    config = config_for_resource(tenant_slug=tenant_slug, resource=resource)
    if config is None or config.pk != grant.config_id:
        raise invalid_target("The token is bound to another virtual server.")


def _revoked_locked(grant: OAuthGrant) -> bool:
    """Re-read under the grant's lock, so a revocation cannot slip in before the mint."""
    row = OAuthGrant.objects.select_for_update().filter(pk=grant.pk).values("revoked_at").first()
    return row is None or row["revoked_at"] is not None


def token_exchange_code(*, form: Any, row: OAuthSettings, tenant_slug: str) -> Issued:
    """``grant_type=authorization_code`` with PKCE; a reused code revokes what it produced."""
    client_id = form.get("client_id") or ""
    client = _client(form, row)
    code = form.get("code") or ""
    verifier = form.get("code_verifier") or ""
    if not code or not verifier:
        raise _refused(invalid_request("code and code_verifier are required."), client_id=client_id)
    with transaction.atomic():
        authorization = (
            OAuthAuthorization.objects.select_for_update(of=("self",))
            .select_related("grant__config", "grant__client", "client")
            .filter(code_hash=tokens.hash_token(code))
            .first()
        )
        if authorization is None:
            error: OAuthError | None = invalid_grant("Unknown authorization code.")
        elif authorization.client_id != client.pk:
            error = invalid_grant("The code was issued to another client.")
        elif authorization.status == OAuthAuthorization.Status.CODE_USED:
            error = invalid_grant("The authorization code was already used.")
        elif authorization.status != OAuthAuthorization.Status.CODE_ISSUED:
            error = invalid_grant("The authorization code is not valid.")
        elif (
            authorization.code_expires_at is None or authorization.code_expires_at <= timezone.now()
        ):
            error = invalid_grant("The authorization code has expired.")
        elif (form.get("redirect_uri") or "") != authorization.redirect_uri:
            error = invalid_grant("redirect_uri does not match the authorization request.")
        elif not secrets.compare_digest(
            create_s256_code_challenge(verifier), authorization.code_challenge
        ):
            error = invalid_grant("The PKCE code_verifier does not match.")
        else:
            error = None
        grant = authorization.grant if authorization is not None else None
        if error is None and grant is not None and _revoked_locked(grant):
            # Revoked between consent and exchange (the user, an admin, a reused refresh token).
            error = invalid_grant("The grant has been revoked.")
        if error is None and grant is not None:
            try:
                _check_resource(form, tenant_slug=tenant_slug, grant=grant)
            except OAuthError as exc:
                error = exc
        if error is not None or grant is None:
            error = error or invalid_grant("The authorization code is not valid.")
            if authorization is not None and authorization.client_id == client.pk:
                # A code is good for one attempt: a failed or repeated one spends it, and a
                # repeated one revokes what the first produced (RFC 6749 §4.1.2).
                replay = authorization.status == OAuthAuthorization.Status.CODE_USED
                authorization.status = OAuthAuthorization.Status.CODE_USED
                authorization.save(update_fields=["status"])
                if replay and grant is not None:
                    _grant_revoke_locked(grant=grant, actor=_actor(client), reason="code_reuse")
            _refused(error, client_id=client_id, grant=grant)
        else:
            authorization.status = OAuthAuthorization.Status.CODE_USED
            authorization.save(update_fields=["status"])
            issued = _issue(grant=grant, row=row)
    if error is not None:
        raise error
    return issued


def token_refresh(*, form: Any, row: OAuthSettings, tenant_slug: str) -> Issued:
    """``grant_type=refresh_token``: rotate; a replayed token revokes the family."""
    client_id = form.get("client_id") or ""
    client = _client(form, row)
    presented = form.get("refresh_token") or ""
    if not tokens.is_well_formed(presented, REFRESH_PREFIX):
        raise _refused(invalid_grant("The refresh token is not valid."), client_id=client_id)
    error: OAuthError | None = None
    with transaction.atomic():
        token = (
            OAuthRefreshToken.objects.select_for_update(of=("self",))
            .select_related("grant__config", "grant__client")
            .filter(token_hash=tokens.hash_token(presented))
            .first()
        )
        grant = token.grant if token is not None else None
        if token is None or grant is None:
            error = invalid_grant("The refresh token is not valid.")
        elif grant.client_id != client.pk:
            error = invalid_grant("The refresh token was issued to another client.")
        elif token.used_at is not None:
            error = invalid_grant("The refresh token was already used; the grant is revoked.")
            _grant_revoke_locked(grant=grant, actor=_actor(client), reason="refresh_reuse")
        elif grant.revoked_at is not None:
            error = invalid_grant("The grant has been revoked.")
        elif token.expires_at <= timezone.now():
            error = invalid_grant("The refresh token has expired.")
        else:
            try:
                _check_resource(form, tenant_slug=tenant_slug, grant=grant)
            except OAuthError as exc:
                error = exc
        if error is not None:
            _refused(error, client_id=client_id, grant=grant)
        else:
            assert token is not None and grant is not None
            token.used_at = timezone.now()
            token.save(update_fields=["used_at"])
            issued = _issue(grant=grant, row=row)
            audit_record(
                event_type=EventType.OAUTH_REFRESHED,
                actor=_actor(client),
                identifier=grant.identifier,
                config_id=grant.config_id,
                extra={"client_id": client.client_id, "grant_id": grant.pk},
            )
    if error is not None:
        raise error
    return issued


def _grant_revoke_locked(*, grant: OAuthGrant, actor: str, reason: str) -> bool:
    """Revoke the grant, its refresh tokens and its access tokens (inside a transaction)."""
    locked = OAuthGrant.objects.select_for_update().get(pk=grant.pk)
    if locked.revoked_at is not None:
        return False
    now = timezone.now()
    locked.revoked_at = now
    locked.revoked_reason = reason
    locked.save(update_fields=["revoked_at", "revoked_reason"])
    family = OAuthRefreshToken.objects.filter(grant=locked)
    access_ids = list(family.values_list("access_token_id", flat=True))
    family.filter(used_at__isnull=True).update(used_at=now)
    for session_token in SessionToken.objects.filter(pk__in=access_ids, revoked_at__isnull=True):
        session_token_revoke(token=session_token, actor=actor)
    audit_record(
        event_type=EventType.OAUTH_REVOKED,
        actor=actor,
        identifier=locked.identifier,
        config_id=locked.config_id,
        extra={"grant_id": locked.pk, "client_id": grant.client.client_id, "reason": reason},
    )
    grant.revoked_at = now
    grant.revoked_reason = reason
    return True


def grant_revoke(*, grant: OAuthGrant, actor: str, reason: str = "manual") -> OAuthGrant:
    """Revoke one grant (idempotent): its tokens stop working on the next request."""
    with transaction.atomic():
        _grant_revoke_locked(grant=grant, actor=actor, reason=reason)
    return grant


def grants_revoke_for_identifier(
    *, identifier: str, actor: str, client_id: str | None = None
) -> int:
    """Revoke every live grant of one end user (optionally only one client's)."""
    live = OAuthGrant.objects.select_related("client").filter(
        identifier=identifier, revoked_at__isnull=True
    )
    if client_id:
        live = live.filter(client__client_id=client_id)
    count = 0
    with transaction.atomic():
        for grant in live:
            count += _grant_revoke_locked(grant=grant, actor=actor, reason="manual")
    return count


def token_revoke(*, form: Any, row: OAuthSettings) -> None:
    """RFC 7009: a refresh token revokes its grant; an access token only itself. Unknown tokens
    are not an error (the answer is the same, so it reveals nothing)."""
    client = _client(form, row)
    presented = form.get("token") or ""
    if tokens.is_well_formed(presented, REFRESH_PREFIX):
        token = (
            OAuthRefreshToken.objects.select_related("grant__client")
            .filter(token_hash=tokens.hash_token(presented), grant__client=client)
            .first()
        )
        if token is not None:
            grant_revoke(grant=token.grant, actor=_actor(client), reason="client_revoke")
        return
    if tokens.is_well_formed(presented, tokens.SESSION_TOKEN_PREFIX):
        session_token = SessionToken.objects.filter(token_hash=tokens.hash_token(presented)).first()
        if session_token is None:
            return
        issued_to_client = OAuthRefreshToken.objects.filter(
            access_token_id=session_token.pk, grant__client=client
        ).exists()
        if issued_to_client:
            session_token_revoke(token=session_token, actor=_actor(client))
