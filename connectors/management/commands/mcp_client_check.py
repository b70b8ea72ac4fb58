"""Run vmcp's upstream MCP client headlessly against one server, OAuth included.

    python manage.py mcp_client_check http://127.0.0.1:3001/mcp [--allow-host 127.0.0.1]

What the gateway does in three places (connection set-up, the end user's connect link, the
tool call), in one process: discovery and client registration (``connectors.mcp_oauth``, the
same code the connection set-up runs), the authorization-code flow with PKCE S256, ``state``,
``resource`` and RFC 9207 ``iss`` checked, against an authorization server that approves
without a person (the conformance suite's), the token exchange, then ``initialize``,
``tools/list`` and ``tools/call`` of every tool through ``connectors.mcp_upstream`` with the
access token. A 401 authorizes once more; a 403 ``insufficient_scope`` authorizes once more
for the union of the scopes (SEP-2350), never in a loop. A server that asks for no auth is
simply called.

It is the client entry point of the official conformance suite (``make conformance-client``),
which passes the scenario's context in ``MCP_CONFORMANCE_CONTEXT`` (a pre-registered client's
``client_id``/``client_secret``). Every request goes through the SSRF guard; ``--allow-host``
lets the suite's loopback servers through for this run only. Exits 1 on any failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings
from mcp.client.auth.oauth2 import PKCEParameters
from mcp.client.auth.utils import union_scopes, validate_authorization_response_iss

from connectors import mcp_oauth, mcp_upstream
from vmcp_platform.egress.upstream import upstream_client
from vmcp_platform.errors import ProviderError

# Where the headless flow says it wants the code delivered; nothing listens there: the code
# is read from the authorization server's redirect (which is never followed).
REDIRECT_URI = "http://127.0.0.1:3000/callback"
# The suite's expected CIMD URL (a real deployment uses <PUBLIC_BASE_URL>/oauth/…).
DEFAULT_CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
MAX_AUTHORIZATIONS = 2


class CheckFailed(Exception):
    pass


def _argument_for(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "default" in schema:
        return schema["default"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    return {
        "number": 1,
        "integer": 1,
        "boolean": True,
        "array": [],
        "object": {},
    }.get(str(kind), "test")


def _arguments(tool: dict[str, Any]) -> dict[str, Any]:
    schema = tool.get("inputSchema") or {}
    properties = schema.get("properties") or {}
    return {name: _argument_for(properties.get(name) or {}) for name in schema.get("required", [])}


def _challenge_of(details: dict[str, Any]) -> str | None:
    parts = []
    if details.get("oauth_error"):
        parts.append(f'error="{details["oauth_error"]}"')
    if details.get("oauth_scopes"):
        parts.append(f'scope="{" ".join(details["oauth_scopes"])}"')
    if details.get("oauth_resource_metadata"):
        parts.append(f'resource_metadata="{details["oauth_resource_metadata"]}"')
    return "Bearer " + ", ".join(parts) if parts else None


class Flow:
    """One run: discovery and registration once, authorizations as the server demands."""

    def __init__(self, server_url: str, context: dict[str, Any], metadata_url: str) -> None:
        self.server_url = server_url
        self.context = context
        self.metadata_url = metadata_url
        self.discovery: mcp_oauth.Discovery | None = None
        self.registration: mcp_oauth.Registration | None = None
        self.registered_issuer = ""
        self.scope: str | None = None
        self.token: dict[str, Any] | None = None
        self.authorizations = 0
        self.log: list[str] = []

    def say(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)

    async def authorize(self, challenge: str | None = None, extra_scopes: list[str] = ()) -> None:
        if self.authorizations >= MAX_AUTHORIZATIONS:
            raise CheckFailed("the server keeps refusing the credential; giving up")
        self.authorizations += 1
        if self.discovery is None or challenge:
            self.discovery = await mcp_oauth.discover(self.server_url, www_authenticate=challenge)
            self.say(f"discovered issuer {self.discovery.issuer}")
        if self.registration is not None and self.registered_issuer != self.discovery.issuer:
            # SEP-2352: a client is bound to the authorization server that registered it; a
            # server that moved to another one gets a registration there, never the old id.
            self.say(f"authorization server changed to {self.discovery.issuer}: registering again")
            self.registration, self.scope = None, None
        if self.registration is None:
            self.registered_issuer = self.discovery.issuer
            client_id = self.context.get("client_id") or self.context.get("clientId")
            client_secret = self.context.get("client_secret") or self.context.get("clientSecret")
            self.registration = await mcp_oauth.register(
                self.discovery,
                redirect_uri=REDIRECT_URI,
                client_metadata_url=self.metadata_url,
                pre_registered_client_id=client_id,
                pre_registered_has_secret=bool(client_secret),
            )
            if client_secret and self.registration.method == "pre_registered":
                self.registration = mcp_oauth.Registration(
                    "pre_registered",
                    self.registration.client_id,
                    self.registration.token_endpoint_auth_method,
                    client_secret=str(client_secret),
                )
            self.say(f"registered by {self.registration.method}")
        wanted = " ".join(self.discovery.scopes) or None
        self.scope = union_scopes(self.scope, wanted)
        if extra_scopes:
            self.scope = union_scopes(self.scope, " ".join(extra_scopes))
        code, verifier = await self._authorization_code()
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        self.token = await mcp_oauth.token_request(self.discovery, self.registration, data)
        self.say("token received")

    async def _authorization_code(self) -> tuple[str, str]:
        assert self.discovery is not None and self.registration is not None
        pkce = PKCEParameters.generate()
        state = secrets.token_urlsafe(24)
        params = {
            "response_type": "code",
            "client_id": self.registration.client_id,
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "code_challenge": pkce.code_challenge,
            "code_challenge_method": "S256",
            "resource": self.discovery.resource,
        }
        if self.scope:
            params["scope"] = self.scope
        endpoint = self.discovery.authorization_endpoint
        url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)
        http, _ = upstream_client(headers={}, timeout=mcp_oauth.TIMEOUT_SECONDS)
        async with http:
            response = await http.get(url)
        location = response.headers.get("location", "")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise CheckFailed(f"the authorization endpoint answered HTTP {response.status_code}")
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if answer.get("state") != state:
            raise CheckFailed("the authorization response's state does not match; refused")
        try:
            validate_authorization_response_iss(answer.get("iss"), self.discovery.metadata)
        except Exception as exc:  # the SDK's OAuthFlowError
            raise CheckFailed(f"refused the authorization response: {exc}") from None
        if "code" not in answer:
            raise CheckFailed(f"no authorization code ({answer.get('error', 'no error given')})")
        return answer["code"], pkce.code_verifier

    def headers(self) -> dict[str, str]:
        if not self.token:
            return {}
        return {"Authorization": f"Bearer {self.token['access_token']}"}

    async def with_auth(self, work: Any) -> Any:
        """Run ``work(headers)``; authorize when refused, once per kind of refusal."""
        while True:
            try:
                return await work(self.headers())
            except ProviderError as exc:
                status = exc.provider_status
                # The refusal's own challenge drives discovery (its resource_metadata, its
                # scope): a fresh probe may be answered differently.
                challenge = _challenge_of(exc.details)
                if status == 401:
                    await self.authorize(challenge)
                    continue
                if status == 403 and exc.details.get("oauth_error") == "insufficient_scope":
                    await self.authorize(
                        challenge, extra_scopes=list(exc.details.get("oauth_scopes") or [])
                    )
                    continue
                raise

    async def run(self) -> None:
        await self.with_auth(self._list_and_call)

    async def _list_and_call(self, headers: dict[str, str]) -> None:
        # One session for the listing and the calls (see ``mcp_upstream.client_session``).
        async with mcp_upstream.client_session(
            server_url=self.server_url, headers=headers
        ) as client:
            tools = (await client.list_tools()).tools
            self.say(f"tools/list: {len(tools)} tools")
            # The scenario may say which calls to make (its context's ``toolCalls``);
            # otherwise every tool is called with arguments made from its schema.
            planned = self.context.get("toolCalls")
            calls = (
                [(c["name"], c.get("arguments") or {}) for c in planned if isinstance(c, dict)]
                if isinstance(planned, list)
                else [(t.name, _arguments(t.model_dump(by_alias=True, mode="json"))) for t in tools]
            )
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                self.say(f"tools/call {name}: {'error' if result.is_error else 'ok'}")


class Command(BaseCommand):
    help = "Run vmcp's upstream MCP client (OAuth discovery, registration, authorization, tools)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("server_url")
        parser.add_argument(
            "--allow-host",
            action="append",
            default=None,
            help="a host the SSRF guard lets through for this run (default: the server's only)",
        )
        parser.add_argument("--client-metadata-url", default=DEFAULT_CLIENT_METADATA_URL)

    def handle(self, *args: Any, **options: Any) -> None:
        server_url = options["server_url"]
        host = urlsplit(server_url).hostname or ""
        # Only the server's own host by default: its metadata must not be able to send this
        # run to any other private address.
        allowed = options["allow_host"] or [host]
        try:
            context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
        except ValueError:
            context = {}
        flow = Flow(
            server_url, context if isinstance(context, dict) else {}, options["client_metadata_url"]
        )
        with override_settings(VMCP_SSRF_ALLOWED_HOSTS=allowed):
            try:
                asyncio.run(flow.run())
            except (CheckFailed, mcp_oauth.UpstreamAuthError, ProviderError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                raise CommandError(f"mcp_client_check failed: {message}") from None
            except httpx2.HTTPError as exc:
                raise CommandError(f"mcp_client_check failed: {type(exc).__name__}") from None
            finally:
                mcp_upstream.forget_servers()
        self.stdout.write("mcp_client_check: ok")
