"""vmcp as an MCP OAuth client of an upstream server: discovery and client registration.

The MCP authorization spec (2025-11-25, 2026-07-28) in the order a client walks it:

1. **Discovery**: an unauthenticated request to the server; its 401 ``WWW-Authenticate`` names
   the protected-resource metadata (``resource_metadata``) and maybe the ``scope``. Else the
   RFC 9728 well-known URIs (path-based, then root). The metadata's ``resource`` must name this
   server (a server may not hand out tokens for another), and its ``authorization_servers[0]``
   is the issuer whose RFC 8414 metadata (with the OpenID Connect discovery fallback) is read;
   that document's ``issuer`` must be exactly the issuer the URL was built from.
2. **Registration**, in the spec's order: a pre-registered client (the admin's client id), a
   Client ID Metadata Document (vmcp's own HTTPS URL as ``client_id``, where the server
   advertises ``client_id_metadata_document_supported``), or Dynamic Client Registration
   (RFC 7591).

What is taken from the ``mcp`` SDK (``mcp.client.auth.utils``, ``mcp.shared.auth``) and why: the
URL lists of discovery (the SEP-985 order and the RFC 8414/OIDC path rules are easy to get
subtly wrong), the ``WWW-Authenticate`` parsing, the scope selection, the issuer comparison,
the CIMD rules and the pydantic models of every document (they validate what the wire sends).
What is not: the SDK's ``OAuthClientProvider`` itself, an ``httpx.Auth`` flow that authorizes
and calls in one process with one token store; here the authorization happens later in the end
user's browser (the connect link), the tokens belong to one end user each, in the vault, and
calls happen in the gateway. So this module only reads and registers; ``accounts`` runs the
authorization-code flow and the refresh with the results.

Every request goes through the SSRF-guarded httpx2 client of ``vmcp_platform.egress``: no
redirects, bounded size and time, the address checked at connect time. Results are plain,
bounded dicts (``Discovery.as_stored``) so the caller can keep them on the connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
    extract_field_from_www_auth,
    get_client_metadata_scopes,
    is_valid_client_metadata_url,
    issuers_match,
)
from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    ProtectedResourceMetadata,
)
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from pydantic import ValidationError

from vmcp_platform.egress import refusal_of
from vmcp_platform.egress.upstream import upstream_client
from vmcp_platform.errors import ApplicationError
from vmcp_platform.sanitize import wire_text

TIMEOUT_SECONDS = 15.0
MAX_DOCUMENT_BYTES = 256 * 1024
PROTOCOL_VERSION = "2025-11-25"
MAX_SCOPES = 100


class UpstreamAuthError(ApplicationError):
    """Discovery or registration failed; the message names the step, never a secret."""

    code = "upstream_oauth_failed"
    status = 400


def _text(value: str | None, max_len: int = 2000) -> str:
    """What the wire sent, fit to be stored and shown: bounded, one line, no control chars."""
    return wire_text(value or "", max_len=max_len)


@dataclass(frozen=True)
class Discovery:
    server_url: str
    resource: str  # what the RFC 8707 ``resource`` parameter names
    resource_metadata_url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str | None
    revocation_endpoint: str | None
    scopes: list[str]  # to ask for: WWW-Authenticate's, else scopes_supported (may be empty)
    token_endpoint_auth_methods: list[str]
    cimd_supported: bool
    iss_parameter_supported: bool
    metadata: OAuthMetadata | None = field(default=None, repr=False, compare=False)

    def as_stored(self) -> dict[str, Any]:
        """Bounded, JSON-safe, no secrets: what the connection keeps."""
        return {
            "server_url": _text(self.server_url),
            "resource": _text(self.resource),
            "resource_metadata_url": _text(self.resource_metadata_url),
            "issuer": _text(self.issuer),
            "authorization_endpoint": _text(self.authorization_endpoint),
            "token_endpoint": _text(self.token_endpoint),
            "registration_endpoint": _text(self.registration_endpoint) or None,
            "revocation_endpoint": _text(self.revocation_endpoint) or None,
            "scopes": [_text(s, 300) for s in self.scopes[:MAX_SCOPES]],
            "token_endpoint_auth_methods": [
                _text(m, 64) for m in self.token_endpoint_auth_methods[:20]
            ],
            "cimd_supported": self.cimd_supported,
            "iss_parameter_supported": self.iss_parameter_supported,
        }


@dataclass(frozen=True)
class Registration:
    method: str  # "pre_registered" | "cimd" | "dcr"
    client_id: str
    token_endpoint_auth_method: str  # "none" | "client_secret_basic" | "client_secret_post"
    client_secret: str | None = field(default=None, repr=False)
    client_secret_expires_at: int | None = None

    def as_stored(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "client_id": _text(self.client_id),
            "token_endpoint_auth_method": _text(self.token_endpoint_auth_method, 64),
            "client_secret_expires_at": self.client_secret_expires_at,
        }


# ------------------------------------------------------------------ HTTP through egress


async def _request(
    http: httpx2.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx2.Response | None:
    """One request; None when the host is unreachable. A refused address is an error."""
    try:
        response = await http.request(method, url, **kwargs)
        await response.aread()
        return response
    except httpx2.HTTPError as exc:
        refused = refusal_of(exc)
        if refused is not None:
            raise UpstreamAuthError(
                f"refused to fetch {_short(url)}: {refused}", code="upstream_oauth_refused"
            ) from None
        raise UpstreamAuthError(f"could not reach {_short(url)} ({type(exc).__name__})") from None


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:300]


def _json(response: httpx2.Response) -> Any:
    if len(response.content) > MAX_DOCUMENT_BYTES:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _client() -> httpx2.AsyncClient:
    http, guard = upstream_client(headers={}, timeout=TIMEOUT_SECONDS, limit=MAX_DOCUMENT_BYTES)
    return http


# ------------------------------------------------------------------ discovery


async def discover(server_url: str, *, www_authenticate: str | None = None) -> Discovery:
    """Walk the spec's discovery from ``server_url``; raises ``UpstreamAuthError``.

    ``www_authenticate`` is a challenge already in hand (a step-up 403); otherwise the server is
    asked once without credentials.
    """
    async with _client() as http:
        challenge = www_authenticate
        if challenge is None:
            challenge = await _challenge(http, server_url)
        fake = httpx2.Response(401, headers={"WWW-Authenticate": challenge or ""})
        metadata_hint = extract_field_from_www_auth(fake, "resource_metadata")
        www_scope = extract_field_from_www_auth(fake, "scope")
        prm, prm_url = await _protected_resource(http, metadata_hint, server_url)
        resource = resource_url_from_server_url(server_url)
        if prm is not None:
            advertised = str(prm.resource)
            # RFC 9728 §3.3: the metadata must be about this server, else a server could make
            # us ask for (and later send) a token meant for another resource.
            if not check_resource_allowed(resource, advertised) and not issuers_match(
                advertised, resource
            ):
                raise UpstreamAuthError(
                    f"the protected-resource metadata names another resource ({advertised[:200]}),"
                    " not this server; refused",
                    code="upstream_oauth_resource_mismatch",
                )
            resource = advertised
            issuer_url = str(prm.authorization_servers[0]) if prm.authorization_servers else None
        else:
            issuer_url = None  # the 2025-03-26 fallback: the server's origin is the AS
        asm, issuer = await _authorization_server(http, issuer_url, server_url)
    if asm is not None:
        authorize = str(asm.authorization_endpoint)
        token = str(asm.token_endpoint)
        registration = str(asm.registration_endpoint) if asm.registration_endpoint else None
        revocation = str(asm.revocation_endpoint) if asm.revocation_endpoint else None
        methods = list(asm.token_endpoint_auth_methods_supported or [])
        cimd = asm.client_id_metadata_document_supported is True
        iss_supported = bool(asm.authorization_response_iss_parameter_supported)
    else:
        origin = _origin(server_url)
        authorize, token = f"{origin}/authorize", f"{origin}/token"
        registration, revocation, methods, cimd, iss_supported = (
            f"{origin}/register",
            None,
            [],
            False,
            False,
        )
    scope = get_client_metadata_scopes(www_scope, prm, asm, ["authorization_code", "refresh_token"])
    scopes = [s for s in (scope or "").split() if s][:MAX_SCOPES]
    return Discovery(
        server_url=server_url,
        resource=resource,
        resource_metadata_url=prm_url or "",
        issuer=issuer,
        authorization_endpoint=authorize,
        token_endpoint=token,
        registration_endpoint=registration,
        revocation_endpoint=revocation,
        scopes=scopes,
        token_endpoint_auth_methods=methods,
        cimd_supported=cimd,
        iss_parameter_supported=iss_supported,
        metadata=asm,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _challenge(http: httpx2.AsyncClient, server_url: str) -> str | None:
    """The server's ``WWW-Authenticate`` for a request without credentials (None if none)."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "vmcp", "version": "1.0.0"},
        },
    }
    response = await _request(
        http,
        "POST",
        server_url,
        json=body,
        headers={
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": PROTOCOL_VERSION,
        },
    )
    if response is None or response.status_code not in (401, 403):
        return None
    return response.headers.get("WWW-Authenticate")


async def _protected_resource(
    http: httpx2.AsyncClient, hint: str | None, server_url: str
) -> tuple[ProtectedResourceMetadata | None, str | None]:
    for url in build_protected_resource_metadata_discovery_urls(hint, server_url):
        response = await _request(
            http, "GET", url, headers={"MCP-Protocol-Version": PROTOCOL_VERSION}
        )
        if response is None or response.status_code != 200:
            continue
        document = _json(response)
        try:
            return ProtectedResourceMetadata.model_validate(document), url
        except ValidationError:
            continue
    return None, None


async def _authorization_server(
    http: httpx2.AsyncClient, issuer_url: str | None, server_url: str
) -> tuple[OAuthMetadata | None, str]:
    """The AS metadata and its issuer; an ``issuer`` that differs from the one the URL was
    built from is refused (RFC 8414 §3.3), never skipped: a poisoned document must not be used."""
    expected = issuer_url or _origin(server_url)
    for url in build_oauth_authorization_server_metadata_discovery_urls(issuer_url, server_url):
        response = await _request(
            http, "GET", url, headers={"MCP-Protocol-Version": PROTOCOL_VERSION}
        )
        if response is None:
            continue
        if response.status_code >= 500:
            break
        if response.status_code != 200:
            continue
        try:
            metadata = OAuthMetadata.model_validate(_json(response))
        except ValidationError:
            continue
        if not issuers_match(str(metadata.issuer), expected):
            raise UpstreamAuthError(
                f"the authorization server's metadata names issuer {str(metadata.issuer)[:200]},"
                f" not {expected[:200]}; refused",
                code="upstream_oauth_issuer_mismatch",
            )
        return metadata, str(metadata.issuer)
    if issuer_url is not None:
        raise UpstreamAuthError(
            f"the authorization server {issuer_url[:200]} publishes no usable metadata"
        )
    return None, expected


# ------------------------------------------------------------------ registration


def _auth_method(discovery: Discovery, *, has_secret: bool) -> str:
    supported = discovery.token_endpoint_auth_methods
    if not has_secret:
        return "none"
    if not supported or "client_secret_basic" in supported:
        return "client_secret_basic"
    if "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"


async def register(
    discovery: Discovery,
    *,
    redirect_uri: str,
    client_metadata_url: str | None,
    client_name: str = "vmcp",
    pre_registered_client_id: str | None = None,
    pre_registered_has_secret: bool = False,
    token_endpoint_auth_method: str | None = None,
) -> Registration:
    """Choose the client, in the spec's order of preference; DCR registers one here."""
    if pre_registered_client_id:
        method = token_endpoint_auth_method or _auth_method(
            discovery, has_secret=pre_registered_has_secret
        )
        return Registration("pre_registered", pre_registered_client_id, method)
    if discovery.cimd_supported and is_valid_client_metadata_url(client_metadata_url):
        assert client_metadata_url is not None
        return Registration("cimd", client_metadata_url, "none")
    if not discovery.registration_endpoint:
        raise UpstreamAuthError(
            "the authorization server supports neither client ID metadata documents (for this"
            " deployment's URL) nor dynamic registration; enter a pre-registered client_id",
            code="upstream_oauth_no_registration",
        )
    # Registered for what the server may ever ask of this client (its step-up scopes too), not
    # only for what the first sign-in asks: the authorization server's scopes_supported.
    supported = (discovery.metadata.scopes_supported if discovery.metadata else None) or []
    scope = " ".join(dict.fromkeys([*discovery.scopes, *supported])) or None
    metadata = OAuthClientMetadata(
        redirect_uris=[redirect_uri],  # type: ignore[list-item]
        token_endpoint_auth_method=None,
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        client_name=client_name,
        scope=scope,
    )
    async with _client() as http:
        response = await _request(
            http,
            "POST",
            discovery.registration_endpoint,
            json=metadata.model_dump(by_alias=True, mode="json", exclude_none=True),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
    if response is None or response.status_code not in (200, 201):
        status = response.status_code if response is not None else "no answer"
        raise UpstreamAuthError(f"dynamic client registration failed (HTTP {status})")
    document = _json(response)
    if isinstance(document, dict):
        document.pop("issuer", None)  # never trusted from the wire (the SDK does the same)
    try:
        info = OAuthClientInformationFull.model_validate(document)
    except ValidationError:
        raise UpstreamAuthError(
            "dynamic client registration answered an invalid document"
        ) from None
    if not info.client_id or len(info.client_id) > 2000:
        raise UpstreamAuthError("dynamic client registration returned no usable client_id")
    secret = info.client_secret or None
    method = info.token_endpoint_auth_method or _auth_method(discovery, has_secret=bool(secret))
    if method not in ("none", "client_secret_basic", "client_secret_post"):
        method = _auth_method(discovery, has_secret=bool(secret))
    return Registration(
        "dcr",
        info.client_id,
        method,
        client_secret=secret,
        client_secret_expires_at=info.client_secret_expires_at,
    )


async def token_request(
    discovery: Discovery,
    registration: Registration,
    data: dict[str, str],
    *,
    client_secret: str | None = None,
) -> dict[str, Any]:
    """One token-endpoint request (code exchange or refresh) with the RFC 8707 ``resource``
    and the registration's client authentication; the token dict or ``UpstreamAuthError``.

    The gateway's own flow uses ``accounts.services.provider.token_request`` (sync, with its
    retries and error kinds); this async one serves the headless check (``mcp_client_check``).
    """
    body = {"resource": discovery.resource, "client_id": registration.client_id, **data}
    secret = client_secret or registration.client_secret or ""
    auth: tuple[str, str] | None = None
    if registration.token_endpoint_auth_method == "client_secret_basic":
        auth = (registration.client_id, secret)
    elif registration.token_endpoint_auth_method == "client_secret_post":
        body["client_secret"] = secret
    async with _client() as http:
        try:
            response = await http.post(
                discovery.token_endpoint,
                data=body,
                auth=auth,
                headers={"Accept": "application/json"},
            )
        except httpx2.HTTPError as exc:
            refused = refusal_of(exc)
            raise UpstreamAuthError(
                f"the token endpoint {'refused: ' + refused if refused else 'is unreachable'}"
            ) from None
    document = _json(response)
    if response.status_code != 200 or not isinstance(document, dict):
        error = document.get("error") if isinstance(document, dict) else None
        raise UpstreamAuthError(
            f"the token endpoint answered HTTP {response.status_code}"
            + (f" ({str(error)[:64]})" if error else "")
        )
    if not document.get("access_token"):
        raise UpstreamAuthError("the token response holds no access token")
    return document


def client_metadata_document(*, client_id: str, redirect_uri: str) -> dict[str, Any]:
    """vmcp's own Client ID Metadata Document (served at ``client_id``)."""
    return {
        "client_id": client_id,
        "client_name": "vmcp",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
