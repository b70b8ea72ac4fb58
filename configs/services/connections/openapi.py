"""Importing an OpenAPI document as a connection: load it (inline, or fetched once through the
SSRF-guarded client), validate, compile its tools, choose the server URL and the credential's
placement. Everything is checked before anything is stored: a refused document changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from configs.models import Connection
from connectors.openapi.compiler import compile_document
from connectors.openapi.loader import (
    HTTP_METHODS,
    InvalidDocument,
    max_document_bytes,
    parse_document,
    validate_document,
)
from vmcp_platform.egress import FetchFailed, check_url, fetch_bytes
from vmcp_platform.egress.headers import is_transport_header

from .rules import HEADER_NAME_RE, invalid, validate_scopes

A = Connection.AuthType
OPENAPI_AUTH_TYPES = frozenset({A.NONE, A.API_KEY, A.SHARED_HEADER, A.OAUTH2})
OPENAPI_SETTINGS = frozenset(
    {"document", "document_url", "server_url", "security_scheme", "auth", "client_id", "scopes"}
)
# Where an oauth2 placement keeps the document's flow endpoints (checked like any outbound URL).
OAUTH_URL_KEYS = ("authorize_url", "token_url")
MAX_CLIENT_ID_CHARS = 500
FETCH_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Imported:
    settings: dict[str, Any]
    tools: list[dict[str, Any]]
    skipped: list[dict[str, str]]


def _fetch(url: str) -> bytes:
    try:
        return fetch_bytes(url, max_bytes=max_document_bytes(), timeout=FETCH_TIMEOUT_SECONDS)
    except FetchFailed as exc:
        raise InvalidDocument(f"The document at document_url {exc}.") from None


def openapi_fetch_document(url: str) -> bytes:
    """The document at ``url``, fetched once through the SSRF-guarded client, bounded."""
    check_url(url, field="document_url")
    return _fetch(url)


def _servers(document: dict[str, Any], base: str | None) -> list[str]:
    urls = []
    for server in document.get("servers") or []:
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            continue
        url = server["url"]
        for name, var in (server.get("variables") or {}).items():
            if isinstance(var, dict) and "default" in var:
                url = url.replace("{" + name + "}", str(var["default"]))
        if base and not url.startswith(("http://", "https://")):
            url = urljoin(base, url)
        urls.append(url)
    return urls


def _placement(
    document: dict[str, Any], settings: dict[str, Any], auth_type: str, base: str
) -> dict[str, Any]:
    """How the credential travels: from a named ``securitySchemes`` entry, an explicit
    ``auth`` object, or the document's first scheme that fits ``auth_type``."""
    schemes = ((document.get("components") or {}).get("securitySchemes")) or {}
    if "auth" in settings:
        return _validate_auth(settings["auth"])
    wanted = settings.get("security_scheme")
    if wanted is not None and wanted not in schemes:
        raise invalid(
            f"security_scheme {str(wanted)[:100]!r} is not in the document's securitySchemes "
            f"({', '.join(sorted(schemes)) or 'none'}).",
            field="security_scheme",
        )
    oauth = auth_type == A.OAUTH2
    names = [wanted] if wanted else list(schemes)
    for name in names:
        scheme = schemes[name]
        if not isinstance(scheme, dict):
            continue
        if oauth:
            auth = _from_oauth_scheme(document, name, scheme, base, named=bool(wanted))
        else:
            auth = _from_scheme(scheme)
        if auth is not None:
            return {**auth, "scheme": name}
    if oauth:
        raise invalid(
            "The document declares no OAuth 2.0 scheme with an authorizationCode flow; "
            "an oauth2 connection needs one.",
            field="security_scheme",
        )
    raise invalid(
        "The document declares no supported security scheme (apiKey, http bearer or basic); "
        'set settings.auth, e.g. {"kind": "bearer"}.',
        field="auth",
    )


def _from_oauth_scheme(
    document: dict[str, Any], name: str, scheme: dict[str, Any], base: str, *, named: bool
) -> dict[str, Any] | None:
    """The authorization-code flow of an ``oauth2`` scheme, its URLs absolute and checked."""
    if scheme.get("type") != "oauth2":
        if named:
            raise invalid(
                f"security_scheme {name!r} is not an OAuth 2.0 scheme.", field="security_scheme"
            )
        return None
    flow = (scheme.get("flows") or {}).get("authorizationCode")
    if not isinstance(flow, dict):
        if named:
            # implicit/password/clientCredentials: no code for the gateway to exchange for a
            # per-user token (implicit hands the token to a browser; the others are not per user).
            raise invalid(
                f"security_scheme {name!r} has no authorizationCode flow; only that flow "
                "gives the gateway a per-user token.",
                field="security_scheme",
            )
        return None
    auth: dict[str, Any] = {"kind": "oauth2"}
    for key, spec_key in (("authorize_url", "authorizationUrl"), ("token_url", "tokenUrl")):
        url = flow.get(spec_key)
        if not isinstance(url, str) or not url:
            raise invalid(f"The {name!r} flow has no {spec_key}.", field="security_scheme")
        # Relative URLs are relative to the server (OpenAPI 3.1 §4.8.28); checked like any
        # outbound URL: the token URL receives the client secret and the users' codes.
        auth[key] = urljoin(base, url)
        check_url(auth[key], field=key)
    if isinstance(flow.get("refreshUrl"), str) and flow["refreshUrl"]:
        # Refresh tokens and the client secret go there: checked like the token URL.
        auth["refresh_url"] = urljoin(base, flow["refreshUrl"])
        check_url(auth["refresh_url"], field="refresh_url")
    auth["scopes"] = _required_scopes(document, name)
    return auth


def _required_scopes(document: dict[str, Any], scheme: str) -> list[str]:
    """The scopes the document's operations ask of ``scheme`` (what the grant must cover)."""
    scopes: list[str] = []
    requirements = list(document.get("security") or [])
    for item in (document.get("paths") or {}).values():
        if isinstance(item, dict):
            for method, operation in item.items():
                if method in HTTP_METHODS and isinstance(operation, dict):
                    requirements.extend(operation.get("security") or [])
    for requirement in requirements:
        if isinstance(requirement, dict) and isinstance(requirement.get(scheme), list):
            scopes.extend(s for s in requirement[scheme] if isinstance(s, str) and s.strip())
    return validate_scopes(list(dict.fromkeys(scopes))[:100])


def _from_scheme(scheme: dict[str, Any]) -> dict[str, Any] | None:
    if scheme.get("type") == "apiKey" and scheme.get("in") in ("header", "query", "cookie"):
        return _validate_auth({"kind": "api_key", "in": scheme["in"], "name": scheme.get("name")})
    if scheme.get("type") == "http":
        kind = str(scheme.get("scheme", "")).lower()
        if kind in ("bearer", "basic"):
            return {"kind": kind}
    return None


def _validate_auth(auth: Any) -> dict[str, Any]:
    kinds = ("api_key", "bearer", "basic", "oauth2")
    if not isinstance(auth, dict) or auth.get("kind") not in kinds:
        raise invalid("auth.kind must be api_key, bearer, basic or oauth2.", field="auth")
    if auth["kind"] == "oauth2":
        clean: dict[str, Any] = {"kind": "oauth2"}
        for key in OAUTH_URL_KEYS:
            if not isinstance(auth.get(key), str):
                raise invalid(f"An oauth2 auth needs {key}.", field="auth")
            check_url(auth[key], field=key)
            clean[key] = auth[key]
        if auth.get("refresh_url") is not None:
            if not isinstance(auth["refresh_url"], str):
                raise invalid("auth.refresh_url must be a URL.", field="auth")
            check_url(auth["refresh_url"], field="refresh_url")
            clean["refresh_url"] = auth["refresh_url"]
        clean["scopes"] = validate_scopes(auth.get("scopes") or [])
        if isinstance(auth.get("scheme"), str):
            clean["scheme"] = auth["scheme"][:100]
        return clean
    if auth["kind"] != "api_key":
        return {"kind": auth["kind"]}
    name = auth.get("name")
    if auth.get("in") not in ("header", "query", "cookie") or not isinstance(name, str):
        raise invalid(
            "An api_key auth needs 'in' (header, query, cookie) and 'name'.", field="auth"
        )
    if not HEADER_NAME_RE.match(name):
        raise invalid("auth.name must be a valid header, query or cookie name.", field="auth")
    if auth["in"] == "header" and (is_transport_header(name) or name.lower() == "cookie"):
        raise invalid(f"auth.name {name!r} is a header the transport owns.", field="auth")
    return {"kind": "api_key", "in": auth["in"], "name": name}


def _oauth_client_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The admin's OAuth client id (the secret goes to the vault) and optional scopes."""
    client_id = settings.get("client_id")
    if not isinstance(client_id, str) or not client_id.strip():
        raise invalid("An oauth2 connection needs settings.client_id.", field="client_id")
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        raise invalid("settings.client_id is too long.", field="client_id")
    clean: dict[str, Any] = {"client_id": client_id.strip()}
    if "scopes" in settings:
        clean["scopes"] = validate_scopes(settings["scopes"])
    return clean


def openapi_import(*, name: str, auth_type: str, settings: dict[str, Any]) -> Imported:
    """Validate and compile; raises ``ValidationFailed`` (nothing stored) on any problem."""
    if not isinstance(settings, dict):
        raise invalid("settings must be an object.")
    unknown = sorted(set(settings) - OPENAPI_SETTINGS)
    if unknown:
        raise invalid(
            f"Unknown settings for an openapi connection: {', '.join(unknown)}. "
            f"Allowed: {', '.join(sorted(OPENAPI_SETTINGS))}.",
            unknown=unknown,
        )
    if "document" not in settings and "document_url" not in settings:
        raise invalid(
            "An openapi connection needs settings.document or settings.document_url.",
            field="document",
        )
    url = settings.get("document_url")
    if "document" in settings:
        # Both: the document as already fetched from document_url (the dashboard's preview
        # binds the text it showed, so Apply must not fetch again); the URL is kept as where
        # the document came from and resolves its relative server URLs, as a fetch would.
        raw: Any = settings["document"]
        if url is not None:
            check_url(url, field="document_url")
    else:
        raw = openapi_fetch_document(url)
    document = parse_document(raw)
    version = validate_document(document)
    compiled = compile_document(document, version=version, prefix=name)
    if not compiled.tools:
        raise InvalidDocument(
            "The document has no operation that can become a tool.",
            details={"skipped": compiled.skipped[:50]},
        )
    servers = _servers(document, url)
    server_url = settings.get("server_url") or (servers[0] if servers else None)
    if not server_url:
        raise invalid(
            "The document lists no absolute server URL; set settings.server_url.",
            field="server_url",
            servers=servers[:20],
        )
    check_url(server_url, field="server_url")
    clean: dict[str, Any] = {"server_url": server_url}
    if url is not None:
        clean["document_url"] = url
    if auth_type != A.NONE:
        clean["auth"] = _placement(document, settings, auth_type, server_url)
    if auth_type == A.OAUTH2:
        if clean["auth"]["kind"] != "oauth2":
            raise invalid("An oauth2 connection needs an oauth2 auth.", field="auth")
        clean.update(_oauth_client_settings(settings))
    elif (clean.get("auth") or {}).get("kind") == "oauth2":
        raise invalid("An oauth2 auth needs a connection with auth_type oauth2.", field="auth")
    info = document.get("info") or {}
    clean["document_info"] = {
        "openapi": str(document.get("openapi"))[:20],
        "title": str(info.get("title", ""))[:200],
        "version": str(info.get("version", ""))[:100],
        "sha256": hashlib.sha256(
            json.dumps(document, sort_keys=True, default=str).encode()
        ).hexdigest(),
        "servers": servers[:20],
        "tools": len(compiled.tools),
    }
    return Imported(settings=clean, tools=compiled.tools, skipped=compiled.skipped)


def openapi_validate_stored(settings: dict[str, Any], auth_type: str) -> dict[str, Any]:
    """A settings change without a new document: only the server URL may move (re-checked)."""
    allowed = {"server_url", "document_url", "auth", "document_info", "client_id", "scopes"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise invalid(
            f"Unknown settings for an openapi connection: {', '.join(unknown)}.", unknown=unknown
        )
    check_url(settings.get("server_url", ""), field="server_url")
    clean = dict(settings)
    if "auth" in clean:
        clean["auth"] = _validate_auth(clean["auth"])
    if auth_type == A.OAUTH2:
        if (clean.get("auth") or {}).get("kind") != "oauth2":
            raise invalid("An oauth2 connection needs an oauth2 auth.", field="auth")
        clean.update(_oauth_client_settings(clean))
    elif (clean.get("auth") or {}).get("kind") == "oauth2":
        raise invalid("An oauth2 auth needs a connection with auth_type oauth2.", field="auth")
    return clean
