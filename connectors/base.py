"""What a connector is: data describing a provider's tools, plus one small HTTP adapter.

Adding a provider means adding one module that builds a ``Connector``; the gateway never
changes. A tool turns validated arguments into one ``HttpCall`` and, optionally, the
provider's response into the data returned to the agent.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from vmcp_platform.egress import refusal_of
from vmcp_platform.errors import ProviderError

AuthKind = Literal["oauth2", "api_key", "none", "mcp"]

JsonSchema = dict[str, Any]


@dataclass(frozen=True)
class OAuthSpec:
    authorize_url: str
    token_url: str
    revoke_url: str | None = None
    default_scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    # Name of the authorize parameter that carries the scopes (Slack asks for user scopes
    # in ``user_scope`` so the token acts as the end user, not as a bot).
    scope_param: str = "scope"
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    # Where the user's token sits in the token response: Slack nests it under "authed_user".
    token_response_path: tuple[str, ...] = ()
    # "none": a public client (an upstream MCP server's CIMD or public DCR client): the
    # client_id travels in the body, no secret at all.
    token_auth_method: Literal["client_secret_post", "client_secret_basic", "none"] = (
        "client_secret_post"
    )
    # Sent with every token-endpoint request (code exchange and refresh): an upstream MCP
    # server's RFC 8707 ``resource``, so the token is bound to that server.
    extra_token_params: Mapping[str, str] = field(default_factory=dict)
    # Sent with every token-endpoint request: GitHub answers form-encoded unless asked for JSON.
    token_request_headers: Mapping[str, str] = field(default_factory=dict)
    # Where the token sits in a refresh_token grant's response, when it differs from the
    # code exchange (Slack nests under "authed_user" only for the code exchange). None: same.
    refresh_response_path: tuple[str, ...] | None = None
    # How the revoke URL is called; the three providers disagree:
    #   "rfc7009": POST form ``token=<token>`` (Google)
    #   "bearer":  POST with the token itself as bearer auth (Slack auth.revoke)
    #   "github":  DELETE ``revoke_url`` (``{client_id}`` filled in), HTTP basic client
    #              credentials, JSON ``{"access_token": <token>}``
    #   "rfc7009_client": RFC 7009 with the client's own authentication (an upstream MCP
    #              server's authorization server: its confidential clients must authenticate)
    revoke_style: Literal["rfc7009", "bearer", "github", "rfc7009_client"] = "rfc7009"
    # Where refresh_token grants go when not the token URL (an OpenAPI flow's refreshUrl).
    refresh_url: str | None = None

    def revoke_request(
        self, token: str, *, client_id: str, client_secret: str, revoke_url: str | None = None
    ) -> dict[str, Any] | None:
        """Keyword arguments for ``httpx.AsyncClient.request`` that revoke ``token``.

        ``revoke_url`` overrides the spec's URL (tests point it at the fake providers).
        """
        url = revoke_url or self.revoke_url
        if not url:
            return None
        if self.revoke_style == "bearer":
            return {"method": "POST", "url": url, "headers": {"Authorization": f"Bearer {token}"}}
        if self.revoke_style == "github":
            return {
                "method": "DELETE",
                "url": url.replace("{client_id}", quote(client_id, safe="")),
                "auth": (client_id, client_secret),
                "headers": {"Accept": "application/vnd.github+json"},
                "json": {"access_token": token},
            }
        if self.revoke_style == "rfc7009_client":
            data = {"token": token}
            if self.token_auth_method == "client_secret_basic":
                return {
                    "method": "POST",
                    "url": url,
                    "data": data,
                    "auth": (client_id, client_secret),
                }
            data["client_id"] = client_id
            if self.token_auth_method == "client_secret_post":
                data["client_secret"] = client_secret
            return {"method": "POST", "url": url, "data": data}
        return {"method": "POST", "url": url, "data": {"token": token}}


@dataclass(frozen=True)
class HttpCall:
    method: str
    path: str  # relative to the connection's API base URL; path params already quoted
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Mapping[str, Any] | None = None  # form-encoded body
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: JsonSchema
    # Exactly one of ``request`` (an HTTP call to the provider) and ``local`` (runs
    # in-process, no credential, no network; sync or async) is set.
    request: Callable[[dict[str, Any]], HttpCall] | None = None
    output_schema: JsonSchema | None = None
    annotations: Mapping[str, Any] = field(default_factory=dict)
    # Turns the provider's decoded JSON body into what the agent receives.
    response: Callable[[Any], Any] | None = None
    local: Callable[[dict[str, Any]], Any] | None = None

    def __post_init__(self) -> None:
        if (self.request is None) == (self.local is None):
            raise ValueError(f"tool {self.name} needs exactly one of request or local")

    def definition(self) -> dict[str, Any]:
        """The MCP ``Tool`` object for tools/list (before any per-server override)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }
        if self.output_schema is not None:
            out["outputSchema"] = self.output_schema
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class ToolResult:
    content: list[dict[str, Any]]
    structured: dict[str, Any] | None = None
    is_error: bool = False
    # An upstream MCP server's InputRequiredResult (2026-07-28, camelCase wire dict): the call
    # is not finished; the agent answers the input requests and retries (``mcp_relay``).
    input_required: dict[str, Any] | None = None


def _default_error_check(response: httpx.Response, body: Any) -> None:
    if response.is_success:
        return
    message = _provider_message(body) or response.reason_phrase or "request failed"
    retry_after = _retry_after(response)
    hints = {
        401: "the provider rejected the credential",
        403: "the provider refused access",
        404: "not found at the provider",
        429: "rate limited by the provider",
    }
    prefix = hints.get(response.status_code, f"provider returned HTTP {response.status_code}")
    raise ProviderError(
        f"{prefix}: {message}",
        provider_status=response.status_code,
        retry_after=retry_after,
    )


def _provider_message(body: Any) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("status") or "")[:300] or None
        if isinstance(error, str):
            return error[:300]
        if isinstance(body.get("message"), str):
            return body["message"][:300]
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Connector:
    slug: str
    name: str
    description: str
    auth_kind: AuthKind
    api_base_url: str
    tools: tuple[Tool, ...]
    oauth: OAuthSpec | None = None
    # How a credential travels: "Bearer <token>" in Authorization unless told otherwise.
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    default_headers: Mapping[str, str] = field(default_factory=dict)
    # Providers that report failures inside a 200 (Slack's {"ok": false}) supply their own check.
    error_check: Callable[[httpx.Response, Any], None] = _default_error_check

    def __post_init__(self) -> None:
        names = [t.name for t in self.tools]
        if len(names) != len(set(names)):
            raise ValueError(f"connector {self.slug} declares a tool twice")

    @property
    def tools_by_name(self) -> dict[str, Tool]:
        return {t.name: t for t in self.tools}

    def get_tool(self, name: str) -> Tool | None:
        return self.tools_by_name.get(name)

    def auth_headers(self, credential: str | None) -> dict[str, str]:
        if not credential:
            return {}
        value = f"{self.auth_scheme} {credential}" if self.auth_scheme else credential
        return {self.auth_header: value}

    async def execute(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        *,
        credential: str | None,
        base_url: str,
        client: httpx.AsyncClient,
        timeout: float = 30.0,
    ) -> ToolResult:
        """Run one tool call against the provider; failures raise ``ProviderError``.

        ``client`` is ``vmcp_platform.egress.http_client()``: the SSRF-guarded client that
        checks ``base_url``'s address when it connects (the tenant may have overridden it).
        """
        if tool.local is not None:
            data = tool.local(arguments)
            if inspect.isawaitable(data):
                data = await data
            return to_tool_result(data, structured=tool.output_schema is not None)
        assert tool.request is not None  # guaranteed by Tool.__post_init__
        call = tool.request(arguments)
        headers = {**self.default_headers, **call.headers, **self.auth_headers(credential)}
        try:
            response = await client.request(
                call.method,
                base_url.rstrip("/") + call.path,
                params=_drop_none(call.params),
                json=call.json,
                data=_drop_none(call.data),
                headers=headers,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{self.name} did not answer within {timeout:g}s") from exc
        except httpx.HTTPError as exc:
            refused = refusal_of(exc)
            if refused is not None:
                # The SSRF guard refused the address: say so (it names the host, no secret).
                raise ProviderError(f"refused to call {self.name}: {refused}"[:500]) from exc
            raise ProviderError(f"could not reach {self.name}: {type(exc).__name__}") from exc
        body = _decode(response)
        self.error_check(response, body)
        data = tool.response(body) if tool.response else body
        return to_tool_result(data, structured=tool.output_schema is not None)


def _drop_none(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: v for k, v in values.items() if v is not None}


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:10_000]}


def to_tool_result(data: Any, *, structured: bool) -> ToolResult:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    structured_content = data if structured and isinstance(data, dict) else None
    return ToolResult(content=[{"type": "text", "text": text}], structured=structured_content)
