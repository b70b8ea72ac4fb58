"""authorize → the tenant's identity provider → consent → an authorization code.

Each step checks the browser binding (a random value in a cookie scoped to this tenant's
``/t/<tenant>/oauth/`` path; the row keeps its hash), so a flow started in one browser cannot be
completed in another (RFC 9700 §4.7), and each step moves the row's status forward exactly once
(``select_for_update``), so a replayed callback or a double-submitted consent does nothing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone

from audit.models import EventType, Outcome
from audit.services import audit_record
from configs.models import McpConfig
from vmcp_platform import tokens
from vmcp_platform.sanitize import wire_text

from ..models import OAuthAuthorization, OAuthClient, OAuthGrant, OAuthSettings
from . import idp
from .clients import client_resolve
from .errors import OAuthError, access_denied, invalid_request, invalid_target
from .policy import (
    SCOPE,
    config_for_resource,
    email_domain_allowed,
    idp_client_secret,
    issuer_for,
)

AUTHORIZATION_LIFETIME = timedelta(minutes=15)
CODE_LIFETIME = timedelta(seconds=60)
COOKIE_PREFIX = "vmcp_as_"
# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters; allow the spec's full range.
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def cookie_name(authorization_id: str) -> str:
    return COOKIE_PREFIX + tokens.hash_token(str(authorization_id))[:16]


def cookie_path(tenant_slug: str) -> str:
    return f"/t/{tenant_slug}/oauth/"


def idp_redirect_uri(tenant_slug: str) -> str:
    """What the tenant registers at its provider as the redirect URI."""
    return f"{issuer_for(tenant_slug)}/callback"


@dataclass(frozen=True)
class ClientRedirect:
    """An error to send back to the client's redirect URI (it is known and registered)."""

    redirect_uri: str
    state: str
    error: OAuthError


class RedirectableError(Exception):
    def __init__(self, redirect: ClientRedirect) -> None:
        super().__init__(redirect.error.description)
        self.redirect = redirect


def redirect_to_client(*, redirect_uri: str, params: dict[str, str]) -> str:
    glue = "&" if "?" in redirect_uri else "?"
    return redirect_uri + glue + urlencode({k: v for k, v in params.items() if v})


def _refuse(error: OAuthError, *, client_id: str = "", identifier: str = "", **extra: Any) -> None:
    audit_record(
        event_type=EventType.OAUTH_REFUSED,
        outcome=Outcome.DENIED,
        error_code=error.error,
        actor=f"oauth:{client_id}"[:255] if client_id else "oauth",
        identifier=identifier,
        extra={"reason": error.description[:300], **extra},
    )


@dataclass(frozen=True)
class Started:
    authorization: OAuthAuthorization
    idp_url: str
    cookie_name: str
    cookie_value: str
    cookie_path: str


def authorize_start(*, tenant_slug: str, row: OAuthSettings, params: Any) -> Started:
    """Validate the client's authorization request and send the user to the IdP.

    Until the client and its redirect URI are established, errors are raised as OAuthError (JSON,
    never a redirect to an unverified URI); afterwards as RedirectableError.
    """
    client_id = params.get("client_id") or ""
    try:
        client = client_resolve(client_id=client_id, row=row)
    except OAuthError as exc:
        _refuse(exc, client_id=wire_text(client_id, max_len=200))
        raise
    redirect_uri = params.get("redirect_uri") or ""
    if not redirect_uri and len(client.redirect_uris) == 1:
        redirect_uri = client.redirect_uris[0]
    if redirect_uri not in client.redirect_uris:
        error = invalid_request("redirect_uri is not one the client registered.")
        _refuse(error, client_id=client.client_id)
        raise error
    state = wire_text(params.get("state") or "", max_len=500)

    def fail(error: OAuthError) -> RedirectableError:
        _refuse(error, client_id=client.client_id)
        return RedirectableError(ClientRedirect(redirect_uri, state, error))

    if params.get("response_type") != "code":
        raise fail(OAuthError("unsupported_response_type", "Only response_type=code."))
    challenge = params.get("code_challenge") or ""
    if params.get("code_challenge_method") != "S256" or not PKCE_CHALLENGE.fullmatch(challenge):
        raise fail(invalid_request("PKCE is required: code_challenge with method S256."))
    resource = params.get("resource") or ""
    config = config_for_resource(tenant_slug=tenant_slug, resource=resource)
    if config is None:
        raise fail(invalid_target("resource must name one of this tenant's virtual servers."))
    # One scope exists, the use of this server's tools; whatever else a client asks for (its
    # own defaults, "openid", "offline_access") is ignored, as RFC 6749 §3.3 allows, rather than
    # failing the sign-in. The token response says what was granted.
    browser_value = secrets.token_urlsafe(32)
    idp_state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(24)
    authorization = OAuthAuthorization.objects.create(
        client=client,
        config=config,
        redirect_uri=redirect_uri,
        client_state=state,
        code_challenge=challenge,
        scopes=[SCOPE],
        browser_hash=tokens.hash_token(browser_value),
        idp_state_hash=tokens.hash_token(idp_state),
        idp_nonce=nonce,
        expires_at=timezone.now() + AUTHORIZATION_LIFETIME,
    )
    verifier = idp.pkce_verifier(
        authorization_id=str(authorization.pk), browser_value=browser_value
    )
    try:
        url = idp.authorize_url(
            row=row,
            redirect_uri=idp_redirect_uri(tenant_slug),
            state=idp_state,
            nonce=nonce,
            verifier=verifier,
        )
    except OAuthError as exc:
        raise fail(OAuthError("temporarily_unavailable", exc.description, status=503)) from None
    return Started(
        authorization=authorization,
        idp_url=url,
        cookie_name=cookie_name(str(authorization.pk)),
        cookie_value=browser_value,
        cookie_path=cookie_path(tenant_slug),
    )


def _bound(authorization: OAuthAuthorization, cookies: dict[str, str]) -> str:
    value = cookies.get(cookie_name(str(authorization.pk))) or ""
    if not value or not secrets.compare_digest(
        tokens.hash_token(value), authorization.browser_hash
    ):
        raise access_denied("This sign-in was started in another browser.")
    return value


def idp_callback(
    *, row: OAuthSettings, params: Any, cookies: dict[str, str], tenant_slug: str
) -> OAuthAuthorization:
    """The IdP sent the user back: verify, map the claim to the identifier, go to consent."""
    state = params.get("state") or ""
    authorization = (
        OAuthAuthorization.objects.select_related("client", "config")
        .filter(idp_state_hash=tokens.hash_token(state))
        .first()
    )
    if authorization is None:
        raise invalid_request("Unknown or spent sign-in state.")
    browser_value = _bound(authorization, cookies)
    # Claim the row before talking to the IdP (no lock held across the network call): the one
    # request that moves it out of SIGNING_IN goes on; a replayed callback finds it claimed.
    # It stays DENIED unless the sign-in below succeeds.
    claimed = OAuthAuthorization.objects.filter(
        pk=authorization.pk,
        status=OAuthAuthorization.Status.SIGNING_IN,
        expires_at__gt=timezone.now(),
    ).update(status=OAuthAuthorization.Status.DENIED)
    if not claimed:
        raise invalid_request("This sign-in has expired or was already completed.")

    def fail(error: OAuthError) -> RedirectableError:
        _refuse(error, client_id=authorization.client.client_id)
        return RedirectableError(
            ClientRedirect(authorization.redirect_uri, authorization.client_state, error)
        )

    if params.get("error") or not params.get("code"):
        raise fail(access_denied("The user did not sign in at the identity provider."))
    try:
        signed_in = idp.sign_in_complete(
            row=row,
            secret=idp_client_secret(),
            code=params["code"],
            redirect_uri=idp_redirect_uri(tenant_slug),
            verifier=idp.pkce_verifier(
                authorization_id=str(authorization.pk), browser_value=browser_value
            ),
            nonce=authorization.idp_nonce,
        )
    except OAuthError as exc:
        raise fail(exc) from None
    claims = signed_in.claims
    identifier = claims.get(row.idp_identifier_claim)
    if not isinstance(identifier, str) or not 1 <= len(identifier) <= 255:
        raise fail(access_denied(f"The sign-in carries no '{row.idp_identifier_claim}' claim."))
    identifier = wire_text(identifier, max_len=255)
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    # An e-mail address names a person (or passes the domain list) only once the IdP says it
    # checked it: many IdPs let users type any address. Absent or anything but true is refused.
    by_email = row.idp_identifier_claim == "email" or bool(row.idp_allowed_email_domains)
    if by_email and claims.get("email_verified") is not True:
        raise fail(access_denied("The identity provider has not verified this e-mail address."))
    if row.idp_allowed_email_domains and not email_domain_allowed(email, row):
        raise fail(access_denied("This account's e-mail domain is not allowed here."))
    authorization.identifier = identifier
    authorization.status = OAuthAuthorization.Status.CONSENT
    authorization.save(update_fields=["identifier", "status"])
    return authorization


def authorization_for_consent(
    *, authorization_id: Any, cookies: dict[str, str]
) -> OAuthAuthorization:
    authorization = (
        OAuthAuthorization.objects.select_related("client", "config")
        .filter(pk=authorization_id)
        .first()
    )
    if authorization is None:
        raise invalid_request("Unknown authorization.")
    _bound(authorization, cookies)
    if (
        authorization.status != OAuthAuthorization.Status.CONSENT
        or authorization.expires_at <= timezone.now()
    ):
        raise invalid_request("This authorization has expired or was already decided.")
    return authorization


def consent_decide(
    *, authorization: OAuthAuthorization, approve: bool, ready: bool, tenant_slug: str
) -> str:
    """Approve (issue a code) or deny; returns the URL to send the browser to."""
    with transaction.atomic():
        locked = (
            OAuthAuthorization.objects.select_for_update()
            .select_related("client", "config")
            .get(pk=authorization.pk)
        )
        if locked.status != OAuthAuthorization.Status.CONSENT:
            raise invalid_request("This authorization was already decided.")
        client: OAuthClient = locked.client
        config: McpConfig = locked.config
        if not approve or not ready:
            locked.status = OAuthAuthorization.Status.DENIED
            locked.save(update_fields=["status"])
            error = access_denied(
                "The user declined." if not approve else "Connected accounts are missing."
            )
            _refuse(error, client_id=client.client_id, identifier=locked.identifier)
            return redirect_to_client(
                redirect_uri=locked.redirect_uri,
                params={
                    "error": error.error,
                    "error_description": error.description,
                    "state": locked.client_state,
                    "iss": issuer_for(tenant_slug),
                },
            )
        grant = OAuthGrant.objects.create(
            client=client, config=config, identifier=locked.identifier, scopes=locked.scopes
        )
        code = secrets.token_urlsafe(32)
        locked.grant = grant
        locked.code_hash = tokens.hash_token(code)
        locked.code_expires_at = timezone.now() + CODE_LIFETIME
        locked.status = OAuthAuthorization.Status.CODE_ISSUED
        locked.save(update_fields=["grant", "code_hash", "code_expires_at", "status"])
        audit_record(
            event_type=EventType.OAUTH_GRANTED,
            actor=f"oauth:{client.client_id}"[:255],
            identifier=locked.identifier,
            config_id=config.pk,
            extra={"client_id": client.client_id, "grant_id": grant.pk, "scopes": grant.scopes},
        )
    return redirect_to_client(
        redirect_uri=locked.redirect_uri,
        params={"code": code, "state": locked.client_state, "iss": issuer_for(tenant_slug)},
    )
