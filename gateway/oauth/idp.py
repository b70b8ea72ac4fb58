"""The relying-party side: signing the end user in at the tenant's OpenID provider.

Authorization code + PKCE (S256, Authlib's transform), ``state`` and ``nonce`` per attempt, the
code exchanged through the SSRF-guarded client, the ID token verified with the provider's JWKS
(joserfc: signature, ``iss``, ``aud``, ``exp``, ``nonce``). Claims missing from the ID token are
read from the UserInfo endpoint (providers such as oidc-provider keep scope claims there when an
access token is issued), whose ``sub`` must be the ID token's.

The PKCE verifier for the provider is never stored: it is an HMAC of the authorization's id and
the browser's binding value under the deployment secret, so only the browser that started the
flow, coming back, lets the server recompute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vmcp_platform.egress import sync_client

from ..models import OAuthSettings
from .errors import OAuthError

DISCOVERY_TTL_SECONDS = 300
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_DOCUMENT_BYTES = 256 * 1024
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


class SignInFailed(OAuthError):
    """The provider refused, or answered something that does not prove who the user is."""

    def __init__(self, description: str) -> None:
        super().__init__("access_denied", description, status=403)


def _get_json(url: str, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        response = sync_client().get(url, headers=headers or {}, timeout=10)
    except httpx.HTTPError as exc:
        raise SignInFailed(
            f"The identity provider is unreachable ({type(exc).__name__})."
        ) from None
    if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
        raise SignInFailed(f"The identity provider answered HTTP {response.status_code}.")
    try:
        body = response.json()
    except ValueError:
        raise SignInFailed("The identity provider did not answer JSON.") from None
    if not isinstance(body, dict):
        raise SignInFailed("The identity provider did not answer a JSON object.")
    return body


def _cached(url: str) -> dict[str, Any]:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(url)
        if hit and now - hit[0] < DISCOVERY_TTL_SECONDS:
            return hit[1]
    value = _get_json(url)
    with _cache_lock:
        _cache[url] = (now, value)
    return value


def discovery(issuer: str) -> dict[str, Any]:
    document = _cached(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise SignInFailed("The identity provider's discovery document names another issuer.")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise SignInFailed(f"The identity provider's discovery document lacks {key}.")
    return document


def pkce_verifier(*, authorization_id: str, browser_value: str) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(),
        f"vmcp-oauth-idp-pkce:{authorization_id}:{browser_value}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(
    *, row: OAuthSettings, redirect_uri: str, state: str, nonce: str, verifier: str
) -> str:
    document = discovery(row.idp_issuer)
    scopes = ["openid", "email", "profile"]
    params = {
        "response_type": "code",
        "client_id": row.idp_client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    endpoint = document["authorization_endpoint"]
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


@dataclass(frozen=True)
class SignedIn:
    claims: dict[str, Any]


def _exchange(
    *, document: dict[str, Any], row: OAuthSettings, secret: str | None, form: dict[str, str]
) -> dict[str, Any]:
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth = None
    if secret and "client_secret_basic" in methods:
        auth = httpx.BasicAuth(row.idp_client_id, secret)
    elif secret:
        form = {**form, "client_secret": secret}
    try:
        response = sync_client().post(
            document["token_endpoint"],
            data={**form, "client_id": row.idp_client_id},
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise SignInFailed(
            f"The identity provider is unreachable ({type(exc).__name__})."
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        # The provider's error code only; its description may echo what was sent.
        raise SignInFailed(
            f"The identity provider refused the sign-in ({error or response.status_code})."
        )
    return body


def _verify_id_token(
    *, id_token: Any, document: dict[str, Any], row: OAuthSettings, nonce: str
) -> dict[str, Any]:
    if not isinstance(id_token, str):
        raise SignInFailed("The identity provider returned no ID token.")
    keys = KeySet.import_key_set(_cached(document["jwks_uri"]))
    # The discovery document is the provider's word, not ours: only public-key signatures,
    # so neither "none" nor an HMAC over a key anyone could read from the JWKS gets through.
    offered = document.get("id_token_signing_alg_values_supported")
    algorithms = (
        [a for a in offered if a in ASYMMETRIC_ALGORITHMS] if isinstance(offered, list) else []
    )
    algorithms = algorithms or ["RS256"]
    try:
        token = jwt.decode(id_token, keys, algorithms=algorithms)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": document["issuer"]},
            aud={"essential": True, "value": row.idp_client_id},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise SignInFailed(f"The ID token is not valid ({type(exc).__name__}).") from None
    # OIDC Core §3.1.3.7: a token for several audiences names the party it was issued to.
    aud, azp = token.claims.get("aud"), token.claims.get("azp")
    if (isinstance(aud, list) and len(aud) > 1 or azp is not None) and azp != row.idp_client_id:
        raise SignInFailed("The ID token was issued to another client (azp).")
    return dict(token.claims)


def sign_in_complete(
    *,
    row: OAuthSettings,
    secret: str | None,
    code: str,
    redirect_uri: str,
    verifier: str,
    nonce: str,
) -> SignedIn:
    """Exchange the provider's code and return the verified claims of the signed-in user."""
    document = discovery(row.idp_issuer)
    tokens = _exchange(
        document=document,
        row=row,
        secret=secret,
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    claims = _verify_id_token(
        id_token=tokens.get("id_token"), document=document, row=row, nonce=nonce
    )
    wanted = {row.idp_identifier_claim, "email", "email_verified"}
    userinfo = document.get("userinfo_endpoint")
    if not wanted.issubset(claims) and isinstance(userinfo, str) and tokens.get("access_token"):
        extra = _get_json(userinfo, headers={"Authorization": f"Bearer {tokens['access_token']}"})
        if extra.get("sub") != claims.get("sub"):
            raise SignInFailed("The UserInfo response is for another user.")
        claims = {**extra, **claims}
    return SignedIn(claims=json.loads(json.dumps(claims, default=str)))
