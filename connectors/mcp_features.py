"""An upstream MCP server's prompts, resources and completions: discovery and one-shot calls.

The same guarded, bounded session as tool calls (``mcp_upstream._session``: SSRF check, size
guard, timeout, the era remembered); results are returned as MCP wire dicts (camelCase), so
the gateway relays them unchanged. Each call opens its own session with the caller's headers
(that end user's credential): nothing of one user's call is reused for another's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation, PromptReference, ResourceTemplateReference

from connectors.mcp_common import provider_error
from connectors.mcp_relay import Relay, client_options
from connectors.mcp_upstream import DEFAULT_TIMEOUT_SECONDS, _precheck
from connectors.mcp_upstream import _session as upstream_session
from vmcp_platform.egress import upstream as egress
from vmcp_platform.errors import ProviderError

MAX_PAGES = 50
MAX_ITEMS = 2000


def _wire(model: Any) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


async def _all_pages(fetch: Any, attribute: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _page in range(MAX_PAGES):
        page = await fetch(cursor=cursor)
        items.extend(_wire(item) for item in getattr(page, attribute))
        cursor = page.next_cursor
        if not cursor or len(items) >= MAX_ITEMS:
            break
    return items[:MAX_ITEMS]


async def list_features(
    *, server_url: str, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """The server's prompts, resources and resource templates, and the capabilities it declared.

    Only what the server declares is asked for: a server without ``prompts`` is not sent
    ``prompts/list``.
    """
    async with upstream_session(server_url, headers, timeout) as (client, _):
        declared = client.server_capabilities
        capabilities = _wire(declared) if declared is not None else {}
        found: dict[str, Any] = {
            "prompts": [],
            "resources": [],
            "resource_templates": [],
            "capabilities": {
                key: capabilities[key]
                for key in ("prompts", "resources", "completions")
                if key in capabilities
            },
        }
        if "prompts" in capabilities:
            found["prompts"] = await _all_pages(client.list_prompts, "prompts")
        if "resources" in capabilities:
            found["resources"] = await _all_pages(client.list_resources, "resources")
            found["resource_templates"] = await _all_pages(
                client.list_resource_templates, "resource_templates"
            )
    return found


async def read_resource(
    *, server_url: str, headers: dict[str, str], uri: str, timeout: float
) -> dict[str, Any]:
    async with upstream_session(server_url, headers, timeout) as (client, _):
        return _wire(await client.read_resource(uri))


async def get_prompt(
    *,
    server_url: str,
    headers: dict[str, str],
    name: str,
    arguments: dict[str, str] | None,
    timeout: float,
    relay: Relay | None = None,
) -> dict[str, Any]:
    """The prompt, or (a round of SEP-2322 on the 2026-07-28 wire) the upstream's
    ``InputRequiredResult`` as a wire dict (``resultType: input_required``).

    With a ``relay`` the session declares what the agent's client declared, and only that (as
    for tool calls); its ``inputResponses`` and the upstream's own ``requestState`` (already
    unsealed by the gateway) go up with the request.
    """
    if relay is None or not relay.rounds:
        async with upstream_session(server_url, headers, timeout) as (client, _):
            return _wire(await client.get_prompt(name, arguments))
    async with upstream_session(server_url, headers, timeout, client_options(relay)) as (
        client,
        _,
    ):
        result = await client.session.get_prompt(
            name,
            arguments,
            input_responses=relay.input_responses,
            request_state=relay.request_state,
            allow_input_required=True,
        )
    return _wire(result)


async def complete(
    *,
    server_url: str,
    headers: dict[str, str],
    ref: dict[str, Any],
    argument: dict[str, str],
    context_arguments: dict[str, str] | None,
    timeout: float,
) -> dict[str, Any]:
    reference: PromptReference | ResourceTemplateReference
    if ref.get("type") == "ref/prompt":
        reference = PromptReference(type="ref/prompt", name=ref["name"])
    else:
        reference = ResourceTemplateReference(type="ref/resource", uri=ref["uri"])
    async with upstream_session(server_url, headers, timeout) as (client, _):
        return _wire(await client.complete(reference, argument, context_arguments))


@asynccontextmanager
async def handshake_session(
    server_url: str,
    headers: dict[str, str],
    timeout: float,
    *,
    lifetime: float | None = None,
    message_handler: Any = None,
) -> AsyncIterator[Client]:
    """A 2025-11-25 session, whatever era the server prefers: ``resources/subscribe`` and the
    ``notifications/resources/updated`` it earns exist only there (2026-07-28 replaced them
    with ``subscriptions/listen``). Same SSRF check, guarded transport and size bound; the
    whole session ends after ``lifetime`` seconds (default: ``timeout``)."""
    await _precheck(server_url)
    http, guard = egress.upstream_client(headers=headers, timeout=timeout)
    try:
        async with http:
            with anyio.fail_after(timeout if lifetime is None else lifetime):
                client = Client(
                    streamable_http_client(server_url, http_client=http),
                    client_info=Implementation(name="vmcp", version="1.0.0"),
                    read_timeout_seconds=timeout,
                    mode="legacy",
                    message_handler=message_handler,
                    cache=None,  # as for tool calls: nothing of one user's answers is kept
                )
                async with client:
                    yield client
    except ProviderError:
        raise
    except Exception as exc:  # the SDK raises groups of transport errors
        raise provider_error(exc, guard=guard, timeout=timeout) from None


async def subscribe(
    *, server_url: str, headers: dict[str, str], uri: str, subscribed: bool, timeout: float
) -> dict[str, Any]:
    """``resources/subscribe`` (or ``unsubscribe``) relayed, for its answer."""
    async with handshake_session(server_url, headers, timeout) as client:
        if subscribed:
            await client.subscribe_resource(uri)
        else:
            await client.unsubscribe_resource(uri)
    return {}
