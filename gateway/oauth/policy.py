"""The tenant's OAuth settings (identity source + AS policy) and the checks they drive.

The identity provider's client secret is a vault secret; nothing here returns it.
"""

from __future__ import annotations

import fnmatch
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.db import transaction

from audit.models import EventType
from audit.services import audit_record
from configs.models import McpConfig
from vault.models import Secret
from vault.secrets import secret_delete, secret_fields, secret_get, secret_put
from vmcp_platform.egress import UnsafeUrl, check_url
from vmcp_platform.errors import ValidationFailed

from ..models import OAuthClient, OAuthSettings

SCOPE = "mcp:tools"
SCOPES_SUPPORTED = [SCOPE]
IDP_SECRET_FIELD = "client_secret"
IDENTITY_SOURCE = Secret.OwnerType.IDENTITY_SOURCE.value
# Native and CLI clients (mcp-remote, the Inspector, the SDKs) listen on a loopback port; hosted
# ones (Claude, ChatGPT, Cursor's web flow) use https. Other schemes only when a tenant lists them.
DEFAULT_REDIRECT_PATTERNS = [
    "http://127.0.0.1:*/*",
    "http://localhost:*/*",
    "http://[::1]:*/*",
    "https://*/*",
]
MAX_LIST = 50
MIN_ACCESS_SECONDS, MAX_ACCESS_SECONDS = 60, 24 * 3600
MAX_REFRESH_DAYS = 365


def oauth_settings_get() -> OAuthSettings:
    """The current tenant's row, or the defaults (unsaved) before anything was configured: the
    metadata GETs that read this must not write."""
    return OAuthSettings.objects.filter(pk=1).first() or OAuthSettings(pk=1)


def idp_client_secret() -> str | None:
    return secret_get(owner_type=IDENTITY_SOURCE, owner_id=1, field=IDP_SECRET_FIELD)


def idp_client_secret_is_set() -> bool:
    return IDP_SECRET_FIELD in secret_fields(owner_type=IDENTITY_SOURCE, owner_id=1)


def issuer_for(tenant_slug: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/t/{tenant_slug}/oauth"


def resource_for(tenant_slug: str, config_id: uuid.UUID | str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/t/{tenant_slug}/mcp/{config_id}"


def config_for_resource(*, tenant_slug: str, resource: str) -> McpConfig | None:
    """The tenant's virtual server this RFC 8707 ``resource`` names, or None.

    Exactly ``<PUBLIC_BASE_URL>/t/<this tenant>/mcp/<config id>`` (a trailing slash tolerated):
    another tenant's server, another host or any other path names nothing here.
    """
    prefix = f"{settings.PUBLIC_BASE_URL}/t/{tenant_slug}/mcp/"
    if not isinstance(resource, str) or not resource.startswith(prefix):
        return None
    tail = resource[len(prefix) :].rstrip("/")
    try:
        config_id = uuid.UUID(tail)
    except ValueError:
        return None
    if str(config_id) != tail.lower():
        return None
    return McpConfig.objects.filter(pk=config_id).first()


# ---------------------------------------------------------------- allow-lists


def redirect_uri_allowed(uri: str, row: OAuthSettings) -> bool:
    """True when ``uri`` is well formed and matches one of the tenant's patterns.

    Parsed first, so a pattern's ``*`` can never swallow a userinfo (``http://127.0.0.1:1@evil``)
    or a port that is not one.
    """
    if not isinstance(uri, str) or not 1 <= len(uri) <= 500 or any(ord(c) <= 32 for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    if not parts.scheme or parts.fragment or "@" in parts.netloc:
        return False
    if parts.scheme in {"http", "https"} and not parts.hostname:
        return False
    if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        # Plain http only on loopback, whatever a pattern says (OAuth 2.1 §2.3.1... and §8.4.2).
        return False
    patterns = row.redirect_uri_patterns or DEFAULT_REDIRECT_PATTERNS
    return any(_pattern_matches(pattern, uri, parts) for pattern in patterns)


def _pattern_matches(pattern: str, uri: str, parts: SplitResult) -> bool:
    """``scheme://host[:port][/path]`` compared part by part, so no ``*`` crosses a boundary.

    A host label ``*`` at the left stands for one or more labels (``*.example.com`` is any
    subdomain, never ``evil.com/.example.com``); other wildcards stay inside their label. Port
    ``*`` is any port (or none), no port is no explicit port. The path (with its query) is
    matched on its own; a pattern without one allows only ``/``. A pattern with no ``//`` (a
    private-use scheme such as ``com.example.app:/cb``) matches an URI without an authority.
    """
    scheme, sep, rest = pattern.partition("://")
    if not sep:
        return not parts.netloc and fnmatch.fnmatchcase(uri, pattern)
    if scheme.lower() != parts.scheme.lower():
        return False
    authority, slash, path = rest.partition("/")
    if "@" in authority or "?" in authority or "#" in authority:
        return False
    if authority.startswith("["):
        host, bracket, port = authority[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:] if port else None
    else:
        host, colon, port = authority.partition(":")
        port = port if colon else None
    if not _host_matches(host.lower(), (parts.hostname or "").lower()):
        return False
    if port == "*":
        pass
    elif port is None:
        if parts.port is not None:
            return False
    elif not port.isdigit() or parts.port != int(port):
        return False
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if not slash:
        return target in {"", "/"}
    return fnmatch.fnmatchcase(target, "/" + path)


def _host_matches(pattern: str, host: str) -> bool:
    if not host or not pattern:
        return False
    wanted, labels = pattern.split("."), host.split(".")
    if wanted[0] == "*":
        suffix = wanted[1:]
        if len(labels) <= len(suffix):
            return False
        labels = labels[len(labels) - len(suffix) :] if suffix else []
        wanted = suffix
    elif len(labels) != len(wanted):
        return False
    return all(fnmatch.fnmatchcase(label, want) for label, want in zip(labels, wanted, strict=True))


@dataclass(frozen=True)
class RedirectDestination:
    """Where the consent page says the code will go: the person's one check on a self-named
    client, since DCR lets anyone register any allowed redirect URI under any name."""

    host: str  # host[:port] of the redirect URI
    loopback: bool  # an app on the user's own computer
    vouched_by: str  # the CIMD client_id's host that lists this redirect URI; "" (DCR): nobody


def redirect_destination(*, client: OAuthClient, redirect_uri: str) -> RedirectDestination:
    parts = urlsplit(redirect_uri)
    host = parts.hostname or parts.scheme  # a private-use scheme names the app
    shown = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        shown = f"{shown}:{parts.port}"
    vouched_by = ""
    if client.kind == OAuthClient.Kind.CIMD:
        # The document at the client_id URL listed this redirect URI: that host vouches for it.
        vouched_by = urlsplit(client.client_id).netloc.lower()
    return RedirectDestination(
        host=shown, loopback=host in {"127.0.0.1", "localhost", "::1"}, vouched_by=vouched_by
    )


def client_host_allowed(host: str, row: OAuthSettings) -> bool:
    """A CIMD client_id's host against the tenant's client domains (empty list: any)."""
    host = (host or "").lower().rstrip(".")
    if not row.client_domains:
        return True
    for domain in row.client_domains:
        domain = domain.lower().strip()
        if domain.startswith("*.") and host.endswith(domain[1:]):
            return True
        if host == domain:
            return True
    return False


def email_domain_allowed(email: str | None, row: OAuthSettings) -> bool:
    if not row.idp_allowed_email_domains:
        return True
    if not email or "@" not in email:
        return False
    domain = email.rsplit("@", 1)[1].lower()
    return domain in {d.lower() for d in row.idp_allowed_email_domains}


# ---------------------------------------------------------------- writes


@dataclass(frozen=True)
class SettingsChange:
    fields: dict[str, Any]
    client_secret: str | None = None  # None: unchanged; "": remove


def _string_list(value: Any, *, field: str, max_len: int = 200) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise ValidationFailed(
            f"{field} is invalid.", details={field: f"a list of at most {MAX_LIST}"}
        )
    out = []
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item.strip()) <= max_len:
            raise ValidationFailed(
                f"{field} is invalid.", details={field: f"strings of 1–{max_len} characters"}
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in item):
            raise ValidationFailed(f"{field} is invalid.", details={field: "no control characters"})
        out.append(item.strip())
    return out


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "idp_issuer":
            value = (value or "").strip().rstrip("/")
            if value:
                try:
                    check_url(value, field="idp_issuer")
                except UnsafeUrl as exc:
                    raise ValidationFailed(str(exc), details={"idp_issuer": str(exc)}) from None
                if not value.startswith("https://") and urlsplit(value).hostname not in {
                    h.lower() for h in settings.VMCP_SSRF_ALLOWED_HOSTS
                }:
                    raise ValidationFailed(
                        "The issuer must be an https URL.", details={"idp_issuer": "https only"}
                    )
        elif name in {"idp_client_id", "idp_identifier_claim"}:
            if not isinstance(value, str) or len(value) > 255:
                raise ValidationFailed(f"{name} is invalid.", details={name: "a string"})
            value = value.strip()
            if name == "idp_identifier_claim" and not value:
                raise ValidationFailed(f"{name} is invalid.", details={name: "a claim name"})
        elif name in {"idp_allowed_email_domains", "client_domains"}:
            value = [v.lower() for v in _string_list(value, field=name, max_len=253)]
        elif name == "redirect_uri_patterns":
            value = _string_list(value, field=name, max_len=500)
        elif name in {"cimd_enabled", "dcr_enabled"}:
            if not isinstance(value, bool):
                raise ValidationFailed(f"{name} is invalid.", details={name: "true or false"})
        elif name == "access_token_seconds":
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not MIN_ACCESS_SECONDS <= value <= MAX_ACCESS_SECONDS
            ):
                raise ValidationFailed(
                    f"{name} is invalid.", details={name: "between 60 and 86400 seconds"}
                )
        elif name == "refresh_token_days":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
                raise ValidationFailed(f"{name} is invalid.", details={name: "between 1 and 365"})
        else:
            raise ValidationFailed(f"Unknown setting {name}.", details={name: "unknown"})
        out[name] = value
    return out


def oauth_settings_update(*, change: SettingsChange, actor: str) -> OAuthSettings:
    """Validate and save the tenant's OAuth settings (and the IdP secret, in the vault)."""
    fields = _checked(change.fields)
    if change.client_secret is not None and len(change.client_secret) > 2000:
        raise ValidationFailed(
            "idp_client_secret is invalid.", details={"idp_client_secret": "too long"}
        )
    with transaction.atomic():
        row = OAuthSettings.objects.select_for_update().get_or_create(pk=1)[0]
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
        if change.client_secret:
            secret_put(
                owner_type=IDENTITY_SOURCE,
                owner_id=1,
                field=IDP_SECRET_FIELD,
                value=change.client_secret,
            )
        elif change.client_secret == "":
            secret_delete(owner_type=IDENTITY_SOURCE, owner_id=1, field=IDP_SECRET_FIELD)
        changed = sorted(fields) + (
            ["idp_client_secret"] if change.client_secret is not None else []
        )
        audit_record(
            event_type=EventType.SETTINGS_CHANGED,
            actor=actor,
            extra={"area": "oauth", "fields": changed},
        )
    return row
