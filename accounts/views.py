"""The end user's connect pages and the deployment-wide OAuth callback.

These pages are public (end users have no login): the link token or the OAuth state is the
only credential, and forms carry Django's CSRF token. A link alone starts nothing: the page
shows which tenant, app and identifier are being connected, and only its Continue (a POST with
CSRF) starts the OAuth flow, binding it to this browser with a cookie the callback checks.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.services import ConnectFailed, oauth_callback, oauth_start
from accounts.services.binding import BrowserBinding, browser_cookie_name, cookie_path
from accounts.services.links import connect_link_get_usable, connect_link_store_api_key
from accounts.services.oauth import oauth_scopes_for
from configs.models import Connection
from configs.selectors import connection_client_metadata_url
from connectors import get_connector
from connectors.mcp_oauth import client_metadata_document
from vmcp_platform.errors import ApplicationError


def _private(response: HttpResponse) -> HttpResponse:
    # The URL carries the link token or the authorization code: never leak it in a Referer.
    # "same-origin", not "no-referrer": browsers send "Origin: null" under no-referrer, which
    # Django's CSRF check rejects, so the connect form could not be submitted.
    response["Referrer-Policy"] = "same-origin"
    return response


def _problem(request: HttpRequest, error: ApplicationError, **context: object) -> HttpResponse:
    return _private(
        render(
            request,
            "vault/connect_error.html",
            {"code": error.code, "message": error.message, **context},
            status=error.status if error.status in (400, 403, 404, 409, 410) else 400,
        )
    )


@never_cache
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest, tenant: str, token: str) -> HttpResponse:
    tenant_obj = request.tenant  # type: ignore[attr-defined]
    try:
        link = connect_link_get_usable(token=token)
    except ApplicationError as exc:
        return _problem(request, exc, tenant=tenant_obj)
    connection = link.account.connection
    is_api_key = connection.auth_type == Connection.AuthType.API_KEY
    context = {
        "tenant": tenant_obj,
        "connection": connection,
        "provider": _provider_name(connection),
        "identifier": link.account.identifier,
        "connection_name": connection.name,
        "scopes": [] if is_api_key else oauth_scopes_for(connection),
        "is_api_key": is_api_key,
    }
    if request.method == "POST":
        try:
            if is_api_key:
                account = connect_link_store_api_key(
                    token=token, api_key=request.POST.get("api_key", "")
                )
                return _private(
                    render(request, "vault/connect_done.html", {**context, "account": account})
                )
            started = oauth_start(tenant=tenant_obj, token=token)
            return _private(_bind(HttpResponseRedirect(started.authorize_url), started.binding))
        except ApplicationError as exc:
            if is_api_key and exc.code == "validation_error":
                return _private(
                    render(
                        request,
                        "vault/connect.html",
                        {**context, "error": exc.message},
                        status=400,
                    )
                )
            return _problem(request, exc, tenant=tenant_obj)
    return _private(render(request, "vault/connect.html", context))


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state") or ""
    cookie = browser_cookie_name(state)
    try:
        result = oauth_callback(
            state=state,
            code=request.GET.get("code"),
            error=request.GET.get("error"),
            browser_secret=request.COOKIES.get(cookie),
            iss=request.GET.get("iss"),
        )
    except ConnectFailed as exc:
        return _forget(_problem(request, exc), cookie, request)
    connection = result.account.connection
    response = _private(
        render(
            request,
            "vault/connect_done.html",
            {
                "tenant": result.tenant,
                "account": result.account,
                "connection": connection,
                "provider": _provider_name(connection),
            },
        )
    )
    return _forget(response, cookie, request)


@require_GET
def client_metadata(request: HttpRequest) -> HttpResponse:
    """vmcp's Client ID Metadata Document: its own URL is the ``client_id`` vmcp uses at upstream
    MCP authorization servers that support CIMD, which fetch it to learn the redirect URI."""
    from accounts.services.oauth import oauth_redirect_uri

    document = client_metadata_document(
        client_id=connection_client_metadata_url(), redirect_uri=oauth_redirect_uri()
    )
    response = JsonResponse(document)
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _bind(response: HttpResponse, binding: BrowserBinding) -> HttpResponse:
    response.set_cookie(
        binding.name,
        binding.value,
        max_age=binding.max_age,
        path=binding.path,
        secure=binding.secure,
        httponly=binding.httponly,
        samesite=binding.samesite,
    )
    return response


def _forget(response: HttpResponse, cookie: str, request: HttpRequest) -> HttpResponse:
    # The state is spent either way, so its cookie has nothing left to prove.
    if cookie in request.COOKIES:
        response.delete_cookie(cookie, path=cookie_path(), samesite="Lax")
    return response


def _provider_name(connection: Connection) -> str:
    connector = get_connector(connection.connector)
    return connector.name if connector is not None else connection.name
