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
    InvalidDocument,
    max_document_bytes,
    parse_document,
    validate_document,
)
from vmcp_platform.egress import FetchFailed, check_url, fetch_bytes
from vmcp_platform.egress.headers import is_transport_header

from .rules import HEADER_NAME_RE, invalid

A = Connection.AuthType
OPENAPI_AUTH_TYPES = frozenset({A.NONE, A.API_KEY, A.SHARED_HEADER})
OPENAPI_SETTINGS = frozenset({"document", "document_url", "server_url", "security_scheme", "auth"})
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


def _placement(document: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """How the credential travels: from a named ``securitySchemes`` entry, an explicit
    ``auth`` object, or the document's first supported scheme."""
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
    names = [wanted] if wanted else list(schemes)
    for name in names:
        scheme = schemes[name]
        auth = _from_scheme(scheme) if isinstance(scheme, dict) else None
        if auth is not None:
            return {**auth, "scheme": name}
    raise invalid(
        "The document declares no supported security scheme (apiKey, http bearer or basic); "
        'set settings.auth, e.g. {"kind": "bearer"}.',
        field="auth",
    )


def _from_scheme(scheme: dict[str, Any]) -> dict[str, Any] | None:
    if scheme.get("type") == "apiKey" and scheme.get("in") in ("header", "query", "cookie"):
        return _validate_auth({"kind": "api_key", "in": scheme["in"], "name": scheme.get("name")})
    if scheme.get("type") == "http":
        kind = str(scheme.get("scheme", "")).lower()
        if kind in ("bearer", "basic"):
            return {"kind": kind}
    return None


def _validate_auth(auth: Any) -> dict[str, Any]:
    if not isinstance(auth, dict) or auth.get("kind") not in ("api_key", "bearer", "basic"):
        raise invalid("auth.kind must be api_key, bearer or basic.", field="auth")
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
    if ("document" in settings) == ("document_url" in settings):
        raise invalid(
            "An openapi connection needs exactly one of settings.document or "
            "settings.document_url.",
            field="document",
        )
    url = settings.get("document_url")
    if url is not None:
        check_url(url, field="document_url")
        raw: Any = _fetch(url)
    else:
        raw = settings["document"]
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
        clean["auth"] = _placement(document, settings)
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


def openapi_validate_stored(settings: dict[str, Any]) -> dict[str, Any]:
    """A settings change without a new document: only the server URL may move (re-checked)."""
    allowed = {"server_url", "document_url", "auth", "document_info"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise invalid(
            f"Unknown settings for an openapi connection: {', '.join(unknown)}.", unknown=unknown
        )
    check_url(settings.get("server_url", ""), field="server_url")
    clean = dict(settings)
    if "auth" in clean:
        clean["auth"] = _validate_auth(clean["auth"])
    return clean
