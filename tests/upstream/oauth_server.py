"""A real OAuth-protected upstream MCP server on loopback, for vmcp's upstream OAuth client.

Two processes' worth of servers in threads, on two ports (two origins, as in production):

- the **authorization server**: the ``mcp`` SDK's own OAuth server routes (``/authorize``,
  ``/token``, ``/register`` (RFC 7591), ``/revoke``) over an in-memory provider, with RFC 8414
  metadata that can advertise Client ID Metadata Documents and RFC 9207 ``iss``. Its authorize
  step is a login page: ``approve(url, user=...)`` plays the end user signing in there, so each
  code (and so each token) belongs to the user who approved it;
- the **MCP server**: the SDK's ``MCPServer`` as a resource server (RFC 9728 metadata, 401 with
  ``WWW-Authenticate``), verifying every bearer token against the authorization server's store
  (issued for this resource, unexpired, unrevoked). ``whoami`` answers with the token's user;
  ``admin_action`` needs the ``mcp:admin`` scope and answers 403 ``insufficient_scope`` without.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
)
from mcp.server.auth.routes import build_metadata, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyHttpUrl, AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

BASIC = "mcp:basic"
ADMIN = "mcp:admin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Issued:
    user: str
    client_id: str
    scopes: list[str]
    resource: str | None
    expires_at: int | None
    revoked: bool = False


@dataclass
class Provider:
    """The authorization server's state: clients, pending logins, codes and tokens."""

    issuer: str
    clients: dict[str, OAuthClientInformationFull] = field(default_factory=dict)
    pending: dict[str, tuple[OAuthClientInformationFull, AuthorizationParams]] = field(
        default_factory=dict
    )
    codes: dict[str, tuple[AuthorizationCode, str]] = field(default_factory=dict)
    access: dict[str, Issued] = field(default_factory=dict)
    refresh: dict[str, Issued] = field(default_factory=dict)
    access_ttl: int = 3600
    # Resolves a CIMD client_id (a URL) to its document; the tests serve vmcp's through Django.
    cimd_fetch: Callable[[str], dict[str, Any] | None] | None = None
    token_requests: list[dict[str, str]] = field(default_factory=list)
    authorize_requests: list[dict[str, Any]] = field(default_factory=list)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    # Approve every authorization as this user without a login (like the conformance suite's).
    auto_approve_user: str | None = None

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if client_id in self.clients:
            return self.clients[client_id]
        if client_id.startswith("https://") and self.cimd_fetch is not None:
            document = self.cimd_fetch(client_id)
            if not document or document.get("client_id") != client_id:
                return None
            return OAuthClientInformationFull.model_validate(
                # This server lets any CIMD client ask for its scopes.
                {**document, "token_endpoint_auth_method": "none", "scope": f"{BASIC} {ADMIN}"}
            )
        return None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.registrations.append(client_info.model_dump(mode="json"))
        self.clients[client_info.client_id] = client_info

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        pending = secrets.token_urlsafe(12)
        self.pending[pending] = (client, params)
        self.authorize_requests.append(
            {
                "client_id": client.client_id,
                "scopes": params.scopes,
                "resource": params.resource,
                "code_challenge": params.code_challenge,
            }
        )
        if self.auto_approve_user:
            return self.login(pending, self.auto_approve_user)
        return f"{self.issuer}/login?pending={pending}"

    def login(self, pending: str, user: str) -> str:
        client, params = self.pending.pop(pending)
        code = secrets.token_urlsafe(16)
        self.codes[code] = (
            AuthorizationCode(
                code=code,
                scopes=params.scopes or [],
                expires_at=time.time() + 300,
                client_id=client.client_id,
                code_challenge=params.code_challenge,
                redirect_uri=params.redirect_uri,
                redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
                resource=params.resource,
            ),
            user,
        )
        query = {"code": code, "iss": self.issuer}
        if params.state:
            query["state"] = params.state
        return f"{params.redirect_uri}?{urlencode(query)}"

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        found = self.codes.get(authorization_code)
        return found[0] if found and found[0].client_id == client.client_id else None

    def _issue(self, user: str, client_id: str, scopes: list[str], resource: str | None) -> Any:
        from mcp.shared.auth import OAuthToken

        access, refresh = f"at-{user}-{secrets.token_hex(8)}", f"rt-{user}-{secrets.token_hex(8)}"
        expires = int(time.time()) + self.access_ttl
        self.access[access] = Issued(user, client_id, scopes, resource, expires)
        self.refresh[refresh] = Issued(user, client_id, scopes, resource, None)
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.access_ttl,
            refresh_token=refresh,
            scope=" ".join(scopes) or None,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> Any:
        code, user = self.codes.pop(authorization_code.code)
        self.token_requests.append({"grant_type": "authorization_code", "user": user})
        return self._issue(user, client.client_id, code.scopes, code.resource)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        issued = self.refresh.get(refresh_token)
        if issued is None or issued.revoked or issued.client_id != client.client_id:
            return None
        return RefreshToken(token=refresh_token, client_id=client.client_id, scopes=issued.scopes)

    async def exchange_refresh_token(
        self,
        client: OAuthClientInformationFull,
        refresh_token: RefreshToken,
        scopes: list[str],
        resource: str | None = None,
    ) -> Any:
        issued = self.refresh.pop(refresh_token.token)  # rotated: the old one is spent
        self.token_requests.append({"grant_type": "refresh_token", "user": issued.user})
        return self._issue(
            issued.user, client.client_id, scopes or issued.scopes, resource or issued.resource
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        issued = self.access.get(token)
        if issued is None or issued.revoked:
            return None
        if issued.expires_at is not None and issued.expires_at < time.time():
            return None
        return AccessToken(
            token=token,
            client_id=issued.client_id,
            scopes=issued.scopes,
            expires_at=issued.expires_at,
            resource=issued.resource,
        )

    async def revoke_token(self, token: Any) -> None:
        for store in (self.access, self.refresh):
            if token.token in store:
                store[token.token].revoked = True

    def user_of(self, token: str) -> str | None:
        issued = self.access.get(token)
        return issued.user if issued else None

    def expire_access_tokens(self) -> None:
        for issued in self.access.values():
            issued.expires_at = int(time.time()) - 1


class Verifier:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    async def verify_token(self, token: str) -> AccessToken | None:
        return await self.provider.load_access_token(token)


@dataclass
class AuthServerOptions:
    dcr: bool = True
    cimd: bool = False
    iss_supported: bool = True
    # Serve metadata naming another issuer (the mix-up / poisoned-metadata case).
    metadata_issuer: str | None = None
    scopes_supported: list[str] = field(default_factory=lambda: [BASIC, ADMIN])


def _auth_app(provider: Provider, options: AuthServerOptions) -> Starlette:
    issuer = AnyHttpUrl(provider.issuer)
    registration = ClientRegistrationOptions(
        enabled=options.dcr, valid_scopes=[BASIC, ADMIN], default_scopes=[BASIC]
    )
    routes = create_auth_routes(
        provider, issuer, None, registration, RevocationOptions(enabled=True)
    )
    metadata = build_metadata(issuer, None, registration, RevocationOptions(enabled=True))
    document = metadata.model_dump(mode="json", exclude_none=True)
    document["issuer"] = provider.issuer  # exactly, without the URL model's trailing slash
    document["scopes_supported"] = options.scopes_supported
    document["token_endpoint_auth_methods_supported"] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    if options.cimd:
        document["client_id_metadata_document_supported"] = True
    if options.iss_supported:
        document["authorization_response_iss_parameter_supported"] = True
    if options.metadata_issuer:
        document["issuer"] = options.metadata_issuer

    async def well_known(request: Request) -> Response:
        return JSONResponse(document)

    async def login(request: Request) -> Response:
        pending, user = request.query_params["pending"], request.query_params["user"]
        return RedirectResponse(provider.login(pending, user), status_code=302)

    routes = [
        r for r in routes if getattr(r, "path", "") != "/.well-known/oauth-authorization-server"
    ]
    routes += [
        Route("/.well-known/oauth-authorization-server", well_known),
        Route("/login", login),
    ]
    return Starlette(routes=routes)


def _mcp_server(
    provider: Provider, resource_url: str, required: list[str], advertised_issuer: str | None
) -> MCPServer:
    server = MCPServer(
        name="oauth-upstream",
        token_verifier=Verifier(provider),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(advertised_issuer or provider.issuer),
            resource_server_url=AnyHttpUrl(resource_url),
            required_scopes=required,
            validate_token_resource=True,
        ),
    )

    @server.tool(description="Who the bearer token says the caller is.")
    def whoami(ctx: Context) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return {"user": provider.user_of(token)}

    @server.tool(description="Needs the mcp:admin scope.")
    def admin_action() -> str:
        return "done"

    return server


class _StepUp:
    """403 ``insufficient_scope`` for a ``tools/call`` of ``admin_action`` without mcp:admin
    (RFC 6750 §3.1): the per-operation challenge the SDK's resource server has no hook for."""

    def __init__(self, app: Any, provider: Provider, metadata_url: str) -> None:
        self.app, self.provider, self.metadata_url = app, provider, metadata_url

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        issued = self.provider.access.get(token)
        try:
            rpc = json.loads(body or b"{}")
        except ValueError:
            rpc = {}
        wants_admin = (
            isinstance(rpc, dict)
            and rpc.get("method") == "tools/call"
            and (rpc.get("params") or {}).get("name") == "admin_action"
        )
        if wants_admin and issued is not None and ADMIN not in issued.scopes:
            challenge = (
                f'Bearer error="insufficient_scope", scope="{BASIC} {ADMIN}",'
                f' resource_metadata="{self.metadata_url}"'
            )
            response = JSONResponse(
                {"error": "insufficient_scope"},
                status_code=403,
                headers={"WWW-Authenticate": challenge},
            )
            await response(scope, receive, send)
            return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@dataclass
class OAuthUpstream:
    provider: Provider
    as_port: int
    mcp_port: int
    _servers: list[uvicorn.Server] = field(default_factory=list, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.mcp_port}/mcp"

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def pre_register(self, client_id: str, secret: str | None, redirect_uri: str) -> None:
        self.provider.clients[client_id] = OAuthClientInformationFull(
            client_id=client_id,
            client_secret=secret,
            redirect_uris=[AnyUrl(redirect_uri)],
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            grant_types=["authorization_code", "refresh_token"],
            scope=f"{BASIC} {ADMIN}",
        )

    def approve(self, authorize_url: str, *, user: str) -> str:
        """The end user signs in at the AS and approves: the redirect back to vmcp."""
        with httpx.Client(follow_redirects=False, timeout=10) as http:
            first = http.get(authorize_url)
            assert first.status_code == 302, (first.status_code, first.text)
            login = first.headers["location"]
            assert login.startswith(f"{self.issuer}/login"), login
            second = http.get(login + "&" + urlencode({"user": user}))
            assert second.status_code == 302, second.text
            return second.headers["location"]

    def _serve(self, app: Any, port: int, name: str) -> None:
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, name=name, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} test server did not start")
            time.sleep(0.02)
        self._servers.append(server)
        self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=10)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@contextmanager
def run_oauth_upstream(
    options: AuthServerOptions | None = None,
    *,
    required_scopes: list[str] | None = None,
    advertised_issuer: str | None = None,
) -> Iterator[OAuthUpstream]:
    """``advertised_issuer``: the authorization server the resource's metadata names, when it
    is not the one running here (the refusal tests)."""
    options = options or AuthServerOptions()
    as_port, mcp_port = _free_port(), _free_port()
    provider = Provider(issuer=f"http://127.0.0.1:{as_port}")
    upstream = OAuthUpstream(provider=provider, as_port=as_port, mcp_port=mcp_port)
    server = _mcp_server(provider, upstream.url, required_scopes or [BASIC], advertised_issuer)
    app = server.streamable_http_app(json_response=False, stateless_http=False)
    metadata_url = f"http://127.0.0.1:{mcp_port}/.well-known/oauth-protected-resource/mcp"
    upstream._serve(_auth_app(provider, options), as_port, "oauth-as")
    upstream._serve(_StepUp(app, provider, metadata_url), mcp_port, "oauth-mcp")
    try:
        yield upstream
    finally:
        upstream.stop()
