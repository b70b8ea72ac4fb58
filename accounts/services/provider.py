"""Talking to a provider's OAuth endpoints: the token endpoint (code exchange and refresh) and
revocation. Shared by the connect flow, refresh and revoke; no database access here.

Providers disagree on almost everything (Google answers 400 JSON, Slack 200 ``{"ok": false}``,
GitHub 200 form-encoded unless asked for JSON), so every answer is normalised into either a
token dict or a ``TokenEndpointError`` with a ``kind`` callers can act on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx

from configs.models import Connection
from configs.selectors import MCP_CONNECTOR, connection_effective_urls, connection_oauth_spec
from connectors.base import OAuthSpec
from vault.models import Secret
from vault.secrets import secret_get
from vmcp_platform.egress import refusal_of, sync_client
from vmcp_platform.errors import ApplicationError

TOKEN_TIMEOUT_SECONDS = 10.0
REVOKE_TIMEOUT_SECONDS = 5.0
# Error codes meaning "this code / refresh token is dead": the user has to reconnect.
_DEAD_GRANT_ERRORS = frozenset(
    {
        "invalid_grant",  # RFC 6749 (Google)
        "bad_refresh_token",  # GitHub
        "bad_verification_code",  # GitHub
        "invalid_refresh_token",  # Slack
        "invalid_code",  # Slack
        "code_already_used",  # Slack
        "token_revoked",
        "token_expired",
    }
)

ErrorKind = Literal["invalid_grant", "transient", "failed"]


class TokenEndpointError(Exception):
    """The token endpoint refused or failed; ``message`` never contains a credential."""

    def __init__(self, kind: ErrorKind, message: str, *, provider_error: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.provider_error = provider_error


@dataclass(frozen=True)
class OAuthClient:
    """Everything needed to talk to one connection's OAuth endpoints."""

    spec: OAuthSpec
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str | None


def oauth_client_for(connection: Connection) -> OAuthClient:
    """The connection's OAuth client; a misconfigured connection is a clear 409."""
    if connection.connector == MCP_CONNECTOR:
        return _upstream_mcp_client(connection)
    spec = connection_oauth_spec(connection)
    if spec is None:
        raise ApplicationError(
            f"Connection '{connection.name}' does not use OAuth.",
            code="connection_not_oauth",
            status=409,
        )
    client_id = str((connection.settings or {}).get("client_id") or "")
    client_secret = secret_get(
        owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk, field="client_secret"
    )
    if not client_id or not client_secret:
        raise ApplicationError(
            f"Connection '{connection.name}' has no OAuth client id or client secret.",
            code="connection_misconfigured",
            status=409,
        )
    urls = connection_effective_urls(connection)
    return OAuthClient(
        spec=spec,
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=urls.get("authorize_url") or spec.authorize_url,
        token_url=urls.get("token_url") or spec.token_url,
        revoke_url=urls.get("revoke_url") or spec.revoke_url,
    )


def _upstream_mcp_client(connection: Connection) -> OAuthClient:
    """An OAuth-protected upstream MCP server: the endpoints discovery found and the client
    registration chose (``configs.services.connections.upstream_oauth``)."""
    stored = connection.upstream_oauth or {}
    discovery, registration = stored.get("discovery") or {}, stored.get("registration") or {}
    if connection.auth_type != Connection.AuthType.OAUTH2 or not registration.get("client_id"):
        raise ApplicationError(
            f"Connection '{connection.name}' has no OAuth client registered with its server.",
            code="connection_misconfigured",
            status=409,
        )
    method = registration.get("token_endpoint_auth_method") or "none"
    secret = ""
    if method != "none":
        field = (
            "client_secret"
            if registration.get("method") == "pre_registered"
            else ("registered_client_secret")
        )
        secret = (
            secret_get(owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk, field=field)
            or ""
        )
        if not secret:
            raise ApplicationError(
                f"Connection '{connection.name}' has no OAuth client secret.",
                code="connection_misconfigured",
                status=409,
            )
    resource = str(discovery.get("resource") or connection.settings.get("server_url", ""))
    spec = OAuthSpec(
        authorize_url=str(discovery.get("authorization_endpoint", "")),
        token_url=str(discovery.get("token_endpoint", "")),
        revoke_url=discovery.get("revocation_endpoint") or None,
        default_scopes=tuple(discovery.get("scopes") or ()),
        extra_authorize_params={"resource": resource},
        # client_id in the body also beside HTTP Basic: the SDK's own authorization server
        # (and others) look the client up by it before checking the Basic credentials.
        extra_token_params={"resource": resource, "client_id": str(registration["client_id"])},
        token_auth_method=method,
        revoke_style="rfc7009_client",
    )
    return OAuthClient(
        spec=spec,
        client_id=str(registration["client_id"]),
        client_secret=secret,
        authorize_url=spec.authorize_url,
        token_url=spec.token_url,
        revoke_url=spec.revoke_url,
    )


def token_request(
    client: OAuthClient,
    data: Mapping[str, str],
    *,
    response_path: tuple[str, ...] = (),
    attempts: int = 1,
    backoff_seconds: float = 0.25,
) -> dict[str, Any]:
    """POST to the token endpoint; returns the token object found at ``response_path``.

    Network errors, 429 and 5xx are retried ``attempts`` times with exponential backoff; a
    dead grant or any other refusal is not (retrying cannot help).
    """
    last: TokenEndpointError | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
        try:
            return _token_request_once(client, data, response_path)
        except TokenEndpointError as exc:
            if exc.kind != "transient":
                raise
            last = exc
    assert last is not None
    raise last


def _token_request_once(
    client: OAuthClient, data: Mapping[str, str], response_path: tuple[str, ...]
) -> dict[str, Any]:
    body = {**client.spec.extra_token_params, **data}
    auth: tuple[str, str] | None = None
    if client.spec.token_auth_method == "client_secret_basic":
        auth = (client.client_id, client.client_secret)
    elif client.spec.token_auth_method == "none":
        body["client_id"] = client.client_id
    else:
        body["client_id"] = client.client_id
        body["client_secret"] = client.client_secret
    headers = {"Accept": "application/json", **client.spec.token_request_headers}
    try:
        # The guarded client: token_url may be a tenant's override, and this request carries
        # the client secret and the PKCE verifier.
        response = sync_client().post(
            client.token_url,
            data=body,
            auth=auth,
            headers=headers,
            timeout=TOKEN_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        refused = refusal_of(exc)
        if refused is not None:  # retrying cannot help: the address is not allowed
            raise TokenEndpointError("failed", f"refused the token endpoint: {refused}") from None
        raise TokenEndpointError(
            "transient", f"could not reach the token endpoint ({type(exc).__name__})"
        ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TokenEndpointError(
            "transient", f"the token endpoint answered HTTP {response.status_code}"
        )
    payload = _decode(response)
    error = _error_code(payload)
    if error or not response.is_success:
        error = error or f"http_{response.status_code}"
        kind: ErrorKind = "invalid_grant" if error in _DEAD_GRANT_ERRORS else "failed"
        raise TokenEndpointError(
            kind, f"the provider refused the token request ({error})", provider_error=error
        )
    token: Any = payload
    for key in response_path:
        token = token.get(key) if isinstance(token, dict) else None
    if not isinstance(token, dict) or not token.get("access_token"):
        raise TokenEndpointError("failed", "the token response holds no access token")
    return token


def _decode(response: httpx.Response) -> dict[str, Any]:
    text = response.text
    try:
        value = json.loads(text)
    except ValueError:
        # GitHub's default answer is form-encoded.
        value = dict(parse_qsl(text, keep_blank_values=True))
    return value if isinstance(value, dict) else {}


def _error_code(payload: dict[str, Any]) -> str:
    if payload.get("ok") is False:  # Slack
        return str(payload.get("error") or "unknown_error")[:64]
    error = payload.get("error")
    if isinstance(error, str) and error:
        return error[:64]
    return ""


def revoke_at_provider(client: OAuthClient, token: str) -> str:
    """Best-effort revocation; returns "" on success or a short reason (never the token)."""
    request = client.spec.revoke_request(
        token,
        client_id=client.client_id,
        client_secret=client.client_secret,
        revoke_url=client.revoke_url,
    )
    if request is None:
        return ""
    method = request.pop("method")
    url = request.pop("url")
    try:
        response = sync_client().request(method, url, timeout=REVOKE_TIMEOUT_SECONDS, **request)
    except httpx.HTTPError as exc:
        refused = refusal_of(exc)
        if refused is not None:
            return f"refused the revocation endpoint: {refused}"[:500]
        return f"could not reach the revocation endpoint ({type(exc).__name__})"
    if not response.is_success:
        return f"the revocation endpoint answered HTTP {response.status_code}"
    payload = _decode(response) if response.content else {}
    if payload.get("ok") is False:
        return f"the provider refused the revocation ({_error_code(payload)})"
    return ""
