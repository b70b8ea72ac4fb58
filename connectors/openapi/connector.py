"""Running one call of a compiled OpenAPI tool: build the request, add the credential, send it
through the platform's bounded HTTP client, and map the answer into MCP content.

Failures are the built-in connectors' (``ProviderError`` with the provider's status: a 401
expires the user's account, a 429 carries retry-after). The server URL's address is checked
by the egress client at connect time, after resolution, like every outbound request.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx

from connectors.base import ToolResult, _default_error_check
from vmcp_platform.egress import refusal_of
from vmcp_platform.errors import ProviderError

from .requests import BuiltRequest, build_request

MAX_TEXT_CHARS = 100_000


def credential_headers(
    auth: dict[str, Any] | None, credential: str | None
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Headers and query pairs that carry ``credential`` as the document's scheme asks."""
    if not auth or not credential:
        return {}, []
    kind = auth.get("kind")
    if kind in ("bearer", "oauth2"):  # an OAuth access token is a bearer token (RFC 6750)
        return {"Authorization": f"Bearer {credential}"}, []
    if kind == "basic":
        token = base64.b64encode(credential.encode()).decode()
        return {"Authorization": f"Basic {token}"}, []
    name = auth.get("name", "")
    if auth.get("in") == "query":
        return {}, [(name, credential)]
    if auth.get("in") == "cookie":
        return {"Cookie": f"{name}={quote(credential, safe='')}"}, []
    return {name: credential}, []


def _merge_cookie(headers: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    merged = {**headers, **extra}
    if "Cookie" in headers and "Cookie" in extra:
        merged["Cookie"] = f"{headers['Cookie']}; {extra['Cookie']}"
    return merged


async def call_tool(
    *,
    definition: dict[str, Any],
    plan: dict[str, Any],
    arguments: dict[str, Any],
    server_url: str,
    auth: dict[str, Any] | None,
    credential: str | None,
    client: httpx.AsyncClient,
    timeout: float,
    label: str = "the API",
) -> ToolResult:
    built = build_request(plan, arguments)
    extra_headers, extra_query = credential_headers(auth, credential)
    response = await _send(built, server_url, extra_headers, extra_query, client, timeout, label)
    return to_result(response, definition, plan)


async def _send(
    built: BuiltRequest,
    server_url: str,
    extra_headers: dict[str, str],
    extra_query: list[tuple[str, str]],
    client: httpx.AsyncClient,
    timeout: float,
    label: str,
) -> httpx.Response:
    try:
        return await client.request(
            built.method,
            server_url.rstrip("/") + built.path,
            params=[*built.query, *extra_query] or None,
            headers=_merge_cookie(built.headers, extra_headers),
            content=built.content,
            timeout=timeout,
        )
    except httpx.TimeoutException as exc:
        raise ProviderError(f"{label} did not answer within {timeout:g}s") from exc
    except httpx.HTTPError as exc:
        refused = refusal_of(exc)
        if refused is not None:
            # The egress guard refused the resolved address at connect time (it names the host).
            raise ProviderError(f"refused to call {label}: {refused}"[:500]) from exc
        raise ProviderError(f"could not reach {label}: {type(exc).__name__}") from exc


def _is_json(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def to_result(
    response: httpx.Response, definition: dict[str, Any], plan: dict[str, Any]
) -> ToolResult:
    body: Any = None
    if response.content and _is_json(response):
        try:
            body = response.json()
        except ValueError:
            body = None
    _default_error_check(response, body if body is not None else {})
    if body is None:
        if not response.content:
            return ToolResult(content=[{"type": "text", "text": f"HTTP {response.status_code}"}])
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/") or "xml" in kind or not kind:
            text = response.text[:MAX_TEXT_CHARS]
        else:
            text = f"{len(response.content)} bytes of {kind[:100]} (not shown)"
        return ToolResult(content=[{"type": "text", "text": text}])
    text = json.dumps(body, ensure_ascii=False)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + " … (truncated)"
    structured = None
    if "outputSchema" in definition:
        structured = {"result": body} if plan.get("wrap_result") else body
        if not isinstance(structured, dict):
            structured = None
    return ToolResult(content=[{"type": "text", "text": text}], structured=structured)
