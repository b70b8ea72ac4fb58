"""HTTP edges of the authorization server. Everything a client reads is JSON (RFC 6749 error
codes); only the consent page, which a person reads, is HTML.

Under ``/t/<tenant>/oauth/`` the tenant middleware has selected the schema; the well-known paths
outside it (RFC 8414 path insertion) open the tenant's context themselves.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django_tenants.utils import tenant_context

from accounts.services.sessions import config_readiness
from configs.tools import config_exposed_tools
from tenants.selectors import tenant_get_by_slug
from vmcp_platform import authfail

from . import flow, grants
from .clients import client_register, registration_response
from .errors import OAuthError, invalid_request, not_configured
from .metadata import authorization_server_metadata, backend_issued
from .policy import issuer_for, oauth_settings_get, redirect_destination

MAX_BODY = 64 * 1024
logger = logging.getLogger(__name__)
OAUTH_SURFACE = "oauth"


def _cors(response: HttpResponse) -> HttpResponse:
    # Browser-based clients (the Inspector, web apps) call these without cookies.
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, MCP-Protocol-Version"
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    return response


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"  # the URL may carry a code or state
    return response


# Refusals that count against the source address (authfail's "oauth" surface): a client that
# keeps presenting bad codes, refresh tokens or client ids is cut off like a bad bearer token.
COUNTED_ERRORS = {"invalid_grant", "invalid_client"}


def _source(request: HttpRequest) -> str:
    return authfail.source_address(
        request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR")
    )


def _throttled(request: HttpRequest) -> HttpResponse | None:
    retry_after = authfail.blocked_for(OAUTH_SURFACE, _source(request))
    if retry_after is None:
        return None
    response = OAuthError(
        "slow_down", "Too many refused requests from this address; wait.", status=429
    ).response()
    response["Retry-After"] = str(retry_after)
    return response


def oauth_endpoint(
    methods: set[str], *, form: bool = False, counted: bool = False
) -> Callable[[Callable[..., HttpResponse]], Any]:
    """JSON in, JSON out, CORS, the tenant's settings loaded, every OAuthError answered as JSON.

    ``form``: the consent page, whose POST is a person's form and keeps Django's CSRF check;
    the client endpoints carry no cookies and are CSRF-exempt. ``counted``: refusals with a
    credential error count towards the source's failure limit, and a source over it gets 429.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @never_cache
        @wraps(view)
        def wrapper(request: HttpRequest, tenant: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                return _cors(HttpResponse(status=204))
            if request.method not in methods:
                error = OAuthError(
                    "invalid_request", f"Use {' or '.join(sorted(methods))}.", status=405
                )
                return _cors(error.response())
            if counted and (refused := _throttled(request)) is not None:
                return _cors(refused)
            row = oauth_settings_get()
            if not row.has_identity_source:
                return _cors(not_configured(tenant).response())
            try:
                return _cors(view(request, tenant, row, *args, **kwargs))
            except OAuthError as exc:
                if counted and exc.error in COUNTED_ERRORS:
                    authfail.failure_count(OAUTH_SURFACE, _source(request))
                return _cors(exc.response())
            except Exception:
                # Still JSON with an RFC code: a client must never be handed an HTML page.
                logger.exception("oauth endpoint failed: %s", request.path)
                error = OAuthError("server_error", "vmcp could not complete this.", status=500)
                return _cors(error.response())

        return wrapper if form else csrf_exempt(wrapper)

    return decorate


def _form(request: HttpRequest) -> Any:
    if len(request.body) > MAX_BODY:
        raise invalid_request("The request body is too large.")
    return request.POST


# ---------------------------------------------------------------- metadata


def _metadata_response(tenant_slug: str) -> HttpResponse:
    tenant = tenant_get_by_slug(tenant_slug)
    if tenant is None:
        return _cors(OAuthError("not_found", "No such tenant.", status=404).response())
    with tenant_context(tenant):
        row = oauth_settings_get()
        if not row.has_identity_source:
            error = not_configured(tenant_slug)
            return _cors(
                JsonResponse(
                    {
                        "error": error.error,
                        "error_description": error.description,
                        "vmcp_token_issuance": backend_issued(tenant_slug),
                    },
                    status=404,
                )
            )
        response = JsonResponse(authorization_server_metadata(tenant_slug, row))
    response["Cache-Control"] = "public, max-age=300"
    return _cors(response)


@never_cache
def metadata(request: HttpRequest, tenant: str, config_id: Any = None) -> HttpResponse:
    """RFC 8414 metadata: at the issuer's path-inserted and appended well-known URLs, the OIDC
    spellings of both, and the path-inserted forms built from an MCP URL."""
    return _metadata_response(tenant)


@never_cache
def root_metadata(request: HttpRequest) -> HttpResponse:
    """A 2025-03-26 client asks the origin; answer in JSON where the per-tenant issuers are."""
    return _cors(
        JsonResponse(
            {
                "error": "not_found",
                "error_description": (
                    "vmcp has one authorization server per tenant, issuer "
                    f"{issuer_for('<tenant>')}; discover it from the virtual server's "
                    "protected-resource metadata (the 401's WWW-Authenticate names it)."
                ),
            },
            status=404,
        )
    )


# ---------------------------------------------------------------- registration, token, revoke


@oauth_endpoint({"POST"}, counted=True)
def register(request: HttpRequest, tenant: str, row: Any) -> HttpResponse:
    if len(request.body) > MAX_BODY:
        raise invalid_request("The registration is too large.")
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise OAuthError("invalid_client_metadata", "The registration is not JSON.") from None
    client = client_register(metadata=body, row=row)
    # Each registration writes a row: it counts like a failure, so one address cannot flood the
    # client table (the window's limit is generous for any real client).
    authfail.failure_count(OAUTH_SURFACE, _source(request))
    return JsonResponse(registration_response(client), status=201)


@oauth_endpoint({"POST"}, counted=True)
def token(request: HttpRequest, tenant: str, row: Any) -> HttpResponse:
    form = _form(request)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        issued = grants.token_exchange_code(form=form, row=row, tenant_slug=tenant)
    elif grant_type == "refresh_token":
        issued = grants.token_refresh(form=form, row=row, tenant_slug=tenant)
    else:
        raise OAuthError("unsupported_grant_type", "Use authorization_code or refresh_token.")
    return _private(JsonResponse(issued.as_dict()))


@oauth_endpoint({"POST"}, counted=True)
def revoke(request: HttpRequest, tenant: str, row: Any) -> HttpResponse:
    grants.token_revoke(form=_form(request), row=row)
    return _private(HttpResponse(status=200))


# ---------------------------------------------------------------- the browser's part


def _redirect_error(redirect: flow.ClientRedirect, tenant: str) -> HttpResponse:
    return _private(
        HttpResponseRedirect(
            flow.redirect_to_client(
                redirect_uri=redirect.redirect_uri,
                params={
                    "error": redirect.error.error,
                    "error_description": redirect.error.description,
                    "state": redirect.state,
                    "iss": issuer_for(tenant),
                },
            )
        )
    )


@oauth_endpoint({"GET"}, counted=True)
def authorize(request: HttpRequest, tenant: str, row: Any) -> HttpResponse:
    try:
        started = flow.authorize_start(tenant_slug=tenant, row=row, params=request.GET)
    except flow.RedirectableError as exc:
        return _redirect_error(exc.redirect, tenant)
    response = _private(HttpResponseRedirect(started.idp_url))
    response.set_cookie(
        started.cookie_name,
        started.cookie_value,
        max_age=int(flow.AUTHORIZATION_LIFETIME.total_seconds()),
        path=started.cookie_path,
        secure=request.is_secure() or issuer_for(tenant).startswith("https://"),
        httponly=True,
        samesite="Lax",  # the IdP's redirect back is a top-level GET
    )
    return response


@oauth_endpoint({"GET"})
def callback(request: HttpRequest, tenant: str, row: Any) -> HttpResponse:
    try:
        authorization = flow.idp_callback(
            row=row, params=request.GET, cookies=request.COOKIES, tenant_slug=tenant
        )
    except flow.RedirectableError as exc:
        return _redirect_error(exc.redirect, tenant)
    return _private(HttpResponseRedirect(f"{issuer_for(tenant)}/consent/{authorization.pk}"))


def _consent_context(authorization: Any, tenant: Any) -> dict[str, Any]:
    config = authorization.config
    readiness = config_readiness(
        config=config,
        identifier=authorization.identifier,
        include_auth_link=True,
        actor=f"oauth:{authorization.client.client_id}"[:255],
    )
    return {
        "tenant": tenant,
        "authorization": authorization,
        "client": authorization.client,
        "destination": redirect_destination(
            client=authorization.client, redirect_uri=authorization.redirect_uri
        ),
        "config": config,
        "tools": config_exposed_tools(config),
        "connections": readiness.connections,
        "ready": readiness.ready,
    }


@oauth_endpoint({"GET", "POST"}, form=True)
def consent(request: HttpRequest, tenant: str, row: Any, authorization_id: Any) -> HttpResponse:
    authorization = flow.authorization_for_consent(
        authorization_id=authorization_id, cookies=request.COOKIES
    )
    tenant_obj = request.tenant  # type: ignore[attr-defined]
    if request.method == "POST":
        approve = request.POST.get("decision") == "approve"
        ready = True
        if approve:
            ready = config_readiness(
                config=authorization.config,
                identifier=authorization.identifier,
                include_auth_link=False,
                actor="oauth",
            ).ready
            if not ready:
                context = _consent_context(authorization, tenant_obj)
                context["error"] = "Connect the accounts below first, then approve."
                return _private(render(request, "gateway/oauth_consent.html", context, status=409))
        url = flow.consent_decide(
            authorization=authorization, approve=approve, ready=ready, tenant_slug=tenant
        )
        return _private(HttpResponseRedirect(url))
    return _private(
        render(request, "gateway/oauth_consent.html", _consent_context(authorization, tenant_obj))
    )
