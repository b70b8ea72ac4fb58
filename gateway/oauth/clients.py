"""The clients a tenant's AS knows: registered by DCR (RFC 7591) or named by a Client ID
Metadata Document (an https URL whose JSON document describes the client).

Only public clients (``token_endpoint_auth_method: none``, PKCE) are supported: every MCP client
in the wild that signs users in (mcp-remote, the Inspector, Claude, Cursor, the SDKs) is one,
and a secret handed to a desktop app protects nothing.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import EventType, Outcome
from audit.services import audit_record
from vmcp_platform.egress import FetchFailed, UnsafeUrl, check_url, fetch_bytes
from vmcp_platform.sanitize import is_clean_text, wire_json, wire_text

from ..models import OAuthClient, OAuthSettings
from .errors import OAuthError, invalid_client
from .policy import client_host_allowed, redirect_uri_allowed

DCR_PREFIX = "vmcp_dcr_"
MAX_REDIRECT_URIS = 10
CIMD_MAX_BYTES = 5 * 1024  # the CIMD draft's recommended bound
CIMD_TIMEOUT_SECONDS = 5.0
CIMD_CACHE = timedelta(hours=1)
PUBLIC_AUTH = "none"


def _invalid_metadata(description: str) -> OAuthError:
    return OAuthError("invalid_client_metadata", description)


def _redirect_uris(value: Any, row: OAuthSettings) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_REDIRECT_URIS:
        raise OAuthError("invalid_redirect_uri", "redirect_uris must list 1–10 URIs.")
    for uri in value:
        if not redirect_uri_allowed(uri, row):
            raise OAuthError(
                "invalid_redirect_uri",
                f"The redirect URI {wire_text(uri, max_len=200)!r} is not allowed by this tenant.",
            )
    return list(value)


def _auth_method(metadata: dict[str, Any]) -> None:
    method = metadata.get("token_endpoint_auth_method", PUBLIC_AUTH)
    if method not in (PUBLIC_AUTH, None):
        # RFC 7591 §3.2.1 lets the server replace a requested value; a client that can only
        # authenticate with a secret or a key would fail later, so it is told now.
        if method not in {"client_secret_post", "client_secret_basic"}:
            raise _invalid_metadata("Only public clients (token_endpoint_auth_method none).")


def _display(metadata: dict[str, Any]) -> tuple[str, str]:
    name = wire_text(metadata.get("client_name") or "", max_len=200)
    uri = metadata.get("client_uri") or ""
    uri = wire_text(uri, max_len=500) if isinstance(uri, str) and uri.startswith("https://") else ""
    return name, uri


def client_register(*, metadata: Any, row: OAuthSettings) -> OAuthClient:
    """RFC 7591 registration of a public client; refused unless the tenant allows DCR."""
    if not row.dcr_enabled:
        raise OAuthError(
            "access_denied", "Dynamic client registration is disabled for this tenant.", status=403
        )
    if not isinstance(metadata, dict):
        raise _invalid_metadata("The registration must be a JSON object.")
    redirect_uris = _redirect_uris(metadata.get("redirect_uris"), row)
    _auth_method(metadata)
    grant_types = metadata.get("grant_types") or ["authorization_code", "refresh_token"]
    if not isinstance(grant_types, list) or "authorization_code" not in grant_types:
        raise _invalid_metadata("grant_types must include authorization_code.")
    name, uri = _display(metadata)
    kept = wire_json(
        {
            "client_name": name,
            "client_uri": uri,
            "grant_types": [g for g in grant_types if g in {"authorization_code", "refresh_token"}],
            "software_id": wire_text(metadata.get("software_id") or "", max_len=200),
            "software_version": wire_text(metadata.get("software_version") or "", max_len=50),
        }
    )
    with transaction.atomic():
        client = OAuthClient.objects.create(
            client_id=DCR_PREFIX + secrets.token_urlsafe(24),
            kind=OAuthClient.Kind.DCR,
            client_name=name,
            client_uri=uri,
            redirect_uris=redirect_uris,
            metadata=kept,
        )
        audit_record(
            event_type=EventType.OAUTH_CLIENT_REGISTERED,
            actor="oauth:dcr",
            extra={"client_id": client.client_id, "client_name": name, "kind": "dcr"},
        )
    return client


def registration_response(client: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.client_name or None,
        "redirect_uris": client.redirect_uris,
        "grant_types": client.metadata.get("grant_types")
        or ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": PUBLIC_AUTH,
    }


def looks_like_cimd(client_id: str) -> bool:
    return client_id.startswith("https://") or client_id.startswith("http://")


def _cimd_url_checked(client_id: str, row: OAuthSettings) -> None:
    """The CIMD draft's URL rules, plus the tenant's client domains and the SSRF rules."""
    try:
        parts = urlsplit(client_id)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise invalid_client("The client_id is not a valid URL.") from None
    allowed_http = {h.lower() for h in settings.VMCP_SSRF_ALLOWED_HOSTS}
    # https only; plain http solely for hosts the operator allowed for loopback development.
    if parts.scheme != "https" and not (
        parts.scheme == "http" and (parts.hostname or "") in allowed_http
    ):
        raise invalid_client("A client_id URL must use https.")
    if parts.path in {"", "/"} or parts.fragment or "@" in parts.netloc or not parts.hostname:
        raise invalid_client("A client_id URL needs a path, and no fragment or user info.")
    if "/./" in parts.path or "/../" in parts.path:
        raise invalid_client("A client_id URL must not contain dot segments.")
    if not client_host_allowed(parts.hostname, row):
        raise OAuthError(
            "unauthorized_client",
            f"Clients from {parts.hostname} are not allowed by this tenant.",
        )
    try:
        check_url(client_id, field="client_id")
    except UnsafeUrl:
        raise invalid_client(
            "The client metadata document is on an address vmcp does not connect to."
        ) from None


def _cimd_fetch(client_id: str, row: OAuthSettings) -> dict[str, Any]:
    try:
        body = fetch_bytes(client_id, max_bytes=CIMD_MAX_BYTES, timeout=CIMD_TIMEOUT_SECONDS)
    except FetchFailed as exc:
        raise invalid_client(f"The client metadata document {exc}.") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise invalid_client("The client metadata document is not JSON.") from None
    if not isinstance(document, dict):
        raise invalid_client("The client metadata document is not a JSON object.")
    if document.get("client_id") != client_id:
        raise invalid_client("The client metadata document's client_id is not its own URL.")
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise invalid_client("A client metadata document must not carry a client secret.")
    _auth_method(document)
    return document


def client_resolve(*, client_id: Any, row: OAuthSettings, refresh: bool = True) -> OAuthClient:
    """The client this ``client_id`` names: a DCR row, or a CIMD document (fetched, cached).

    ``refresh=False`` (the token endpoint) uses the cached document without refetching: the
    authorize step that preceded it validated it moments ago.
    """
    if not isinstance(client_id, str) or not is_clean_text(client_id, max_len=500) or not client_id:
        raise invalid_client("client_id is missing, too long or not printable.")
    if not looks_like_cimd(client_id):
        client = OAuthClient.objects.filter(client_id=client_id, kind=OAuthClient.Kind.DCR).first()
        if client is None:
            raise invalid_client("Unknown client_id.")
        if not row.dcr_enabled:
            raise invalid_client("Dynamically registered clients are disabled for this tenant.")
        return client
    if not row.cimd_enabled:
        raise invalid_client("Client ID metadata documents are disabled for this tenant.")
    _cimd_url_checked(client_id, row)
    cached = OAuthClient.objects.filter(client_id=client_id, kind=OAuthClient.Kind.CIMD).first()
    fresh = cached and cached.fetched_at and timezone.now() - cached.fetched_at < CIMD_CACHE
    if cached is not None and (fresh or not refresh):
        return cached
    try:
        document = _cimd_fetch(client_id, row)
        redirect_uris = _redirect_uris(document.get("redirect_uris"), row)
    except OAuthError as exc:
        audit_record(
            event_type=EventType.OAUTH_REFUSED,
            outcome=Outcome.DENIED,
            error_code=exc.error,
            actor="oauth:cimd",
            extra={"client_id": wire_text(client_id, max_len=500), "reason": exc.description},
        )
        if exc.error == "invalid_redirect_uri":
            raise invalid_client(exc.description) from None
        raise
    name, uri = _display(document)
    with transaction.atomic():
        client, created = OAuthClient.objects.update_or_create(
            client_id=client_id,
            defaults={
                "kind": OAuthClient.Kind.CIMD,
                "client_name": name,
                "client_uri": uri,
                "redirect_uris": redirect_uris,
                "metadata": wire_json({"client_name": name, "client_uri": uri}),
                "fetched_at": timezone.now(),
            },
        )
        if created:
            audit_record(
                event_type=EventType.OAUTH_CLIENT_REGISTERED,
                actor="oauth:cimd",
                extra={"client_id": client_id, "client_name": name, "kind": "cimd"},
            )
    return client
