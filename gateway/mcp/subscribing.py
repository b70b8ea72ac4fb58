"""Resource subscriptions, scoped like reads: 2025-11-25 ``resources/subscribe``/``unsubscribe``
and 2026-07-28 ``subscriptions/listen`` with ``resourceSubscriptions``.

Each checks that the config exposes the URI and that its upstream supports subscriptions, then
(audited, with that user's credential, through ``features.relay``) has a watcher
(``subscriptions``) hold the upstream subscription. A watcher re-checks ``_watch_allowed``
periodically and ends when it no longer holds.
"""

from __future__ import annotations

from typing import Any

from django_tenants.utils import tenant_context

from vmcp_platform.errors import ApplicationError

from .context import Principal, RequestContext
from .features import find_exposure, refuse, relay, resource_not_found, uri_param
from .jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError


async def _subscription(params: dict[str, Any], ctx: RequestContext, subscribed: bool) -> Any:
    from configs.features import exposure_resource

    method = "resources/subscribe" if subscribed else "resources/unsubscribe"
    uri = uri_param(params)
    exposed = exposure_resource(await find_exposure(ctx.principal), uri)
    upstream = (exposed.connection.upstream_capabilities or {}) if exposed else {}
    if exposed is None:
        raise await refuse(ctx, method, uri, "unknown_resource", resource_not_found(uri))
    if not (upstream.get("resources") or {}).get("subscribe"):
        # Exposed, but its upstream cannot notify: nothing to subscribe to (the capability
        # this config advertises says so too, unless another connection's resources can).
        unsupported = JsonRpcError(
            METHOD_NOT_FOUND, f"Method not found: {method} (not supported for this resource)"
        )
        raise await refuse(ctx, method, uri, "subscribe_unsupported", unsupported)
    if ctx.session_id is None:  # only the 2025-11-25 wire routes these methods
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: subscriptions need a session")
    request = _watch_request(ctx, uri) if subscribed else _unwatch_request(ctx, uri)
    return await relay(ctx, method, uri, exposed.connection, request)


def _watch_request(ctx: RequestContext, uri: str) -> Any:
    """Record the subscription, then have a watcher subscribe upstream with these headers."""
    from . import subscriptions

    principal, session_id = ctx.principal, str(ctx.session_id)
    schema = principal.tenant.schema_name

    async def request(server_url: str, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        await subscriptions.subscription_add(schema, session_id, uri)
        try:
            await subscriptions.watch_start(
                tenant_schema=schema,
                session_id=session_id,
                uri=uri,
                server_url=server_url,
                headers=headers,
                timeout=timeout,
                still_allowed=lambda: _still_allowed(principal, uri),
            )
        except BaseException:
            await subscriptions.subscription_remove(schema, session_id, uri, timeout=timeout)
            raise
        return {}

    return request


def _unwatch_request(ctx: RequestContext, uri: str) -> Any:
    from . import subscriptions

    schema, session_id = ctx.principal.tenant.schema_name, str(ctx.session_id)

    async def request(server_url: str, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        await subscriptions.subscription_remove(schema, session_id, uri, timeout=timeout)
        return {}

    return request


def _watch_allowed(principal: Principal, uri: str) -> bool:
    """A watcher's periodic re-check: the token is live, the config still exposes the URI and
    the user's account (if the connection needs one) is still usable."""
    from configs.features import config_exposure_fresh, exposure_resource
    from configs.selectors_mcp import session_tokens_for_config
    from gateway.execution.preparation import credential_resolve

    with tenant_context(principal.tenant):
        live = (
            session_tokens_for_config(config=principal.config, active=True)
            .filter(pk=principal.token_id)
            .exists()
        )
        if not live:
            return False
        exposed = exposure_resource(config_exposure_fresh(principal.config_id), uri)
        if exposed is None:
            return False
        try:
            credential_resolve(
                principal.tenant, exposed.connection, principal.identifier, principal.token_id
            )
        except ApplicationError:
            return False
    return True


async def _still_allowed(principal: Principal, uri: str) -> bool:
    from gateway.execution.db import run_db

    return await run_db(_watch_allowed, principal, uri)


async def resources_subscribe(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return await _subscription(params, ctx, True)


async def resources_unsubscribe(params: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return await _subscription(params, ctx, False)


# ---------------------------------------------------------------- 2026-07-28 listen streams

MAX_LISTEN_SUBSCRIPTIONS = 16


async def listen_watch(ctx: RequestContext, requested: Any, listen_id: str) -> list[str]:
    """``subscriptions/listen``'s ``resourceSubscriptions``: the URIs it will honour.

    Each requested URI that the config exposes on an upstream that supports subscriptions gets
    a watcher owned by this stream (audited as ``resources/subscribe <uri>``); any other URI,
    or one the upstream or the user's account refuses, is left out of the acknowledgement.
    """
    from configs.features import exposure_resource

    if not isinstance(requested, list):
        return []
    exposure = await find_exposure(ctx.principal)
    honored: list[str] = []
    for uri in requested[:MAX_LISTEN_SUBSCRIPTIONS]:
        if not isinstance(uri, str) or uri in honored:
            continue
        exposed = exposure_resource(exposure, uri)
        upstream = (exposed.connection.upstream_capabilities or {}) if exposed else {}
        if exposed is None or not (upstream.get("resources") or {}).get("subscribe"):
            await refuse(
                ctx, "resources/subscribe", uri, "unknown_resource", resource_not_found(uri)
            )
            continue
        request = _listen_watch_request(ctx, uri, listen_id)
        try:
            await relay(ctx, "resources/subscribe", uri, exposed.connection, request)
        except JsonRpcError:
            continue  # refused (and audited): not in the acknowledged subset
        honored.append(uri)
    return honored


def _listen_watch_request(ctx: RequestContext, uri: str, listen_id: str) -> Any:
    from . import subscriptions

    principal = ctx.principal

    async def request(server_url: str, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        await subscriptions.watch_start(
            tenant_schema=principal.tenant.schema_name,
            session_id=listen_id,
            uri=uri,
            server_url=server_url,
            headers=headers,
            timeout=timeout,
            still_allowed=lambda: _still_allowed(principal, uri),
            session_bound=False,
        )
        return {}

    return request


async def listen_unwatch(ctx: RequestContext, uris: list[str], listen_id: str) -> None:
    """The listen stream ended: its watchers unsubscribe upstream and stop."""
    from vmcp_platform.egress import call_timeout

    from . import subscriptions

    for uri in uris:
        await subscriptions.watch_stop(
            ctx.principal.tenant.schema_name, listen_id, uri, timeout=call_timeout()
        )
