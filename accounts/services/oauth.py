"""The OAuth 2.0 authorization-code flow with PKCE (S256, always) for connected accounts.

One redirect URI serves the whole deployment (``<PUBLIC_BASE_URL>/oauth/callback``), and the
public schema holds no flow state, so the tenant travels inside ``state``: ``<slug>.<random>``.
Only the state's hash is stored, in that tenant's schema, with the PKCE verifier in the vault;
a state is consumed once, whatever happens next.

The flow belongs to the browser that pressed Continue (``binding``): a callback without that
browser's cookie is refused and burns the state. Revoking the account voids every flow begun
before it (``account_issued_before_revocation``), including one whose code is being exchanged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import EventType, Outcome
from audit.services import audit_record
from configs.models import Connection
from configs.selectors import connection_oauth_spec
from tenants.models import Tenant
from tenants.selectors import tenant_get_by_slug
from vault.models import ConnectedAccount, OAuthState, Secret
from vault.secrets import secret_delete, secret_get, secret_put
from vmcp_platform import tokens
from vmcp_platform.errors import ApplicationError, ValidationFailed

from .accounts import account_issued_before_revocation, account_tokens_store
from .binding import BrowserBinding, browser_binding_matches, browser_binding_new
from .links import connect_link_consume, connect_link_get_usable
from .provider import TokenEndpointError, oauth_client_for, token_request

logger = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
VERIFIER_FIELD = "code_verifier"
OAUTH_STATE = Secret.OwnerType.OAUTH_STATE


def oauth_redirect_uri() -> str:
    """The deployment's one redirect URI, to register with every provider."""
    return f"{settings.PUBLIC_BASE_URL}/oauth/callback"


def oauth_scopes_for(connection: Connection) -> list[str]:
    """The scopes to ask for: the connection's own list, else the connector's defaults."""
    configured = (connection.settings or {}).get("scopes")
    if isinstance(configured, list) and configured:
        return [str(s) for s in configured]
    if connection.connector == "mcp":
        # An upstream MCP server: its challenge's scope, else its scopes_supported (discovery).
        discovered = ((connection.upstream_oauth or {}).get("discovery") or {}).get("scopes")
        return [str(s) for s in discovered or []]
    spec = connection_oauth_spec(connection)
    return list(spec.default_scopes) if spec is not None else []


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class StartedFlow:
    authorize_url: str
    binding: BrowserBinding  # the cookie the connect page sets in this browser


def oauth_start(*, tenant: Tenant, token: str) -> StartedFlow:
    """Spend the connect link; the provider's authorize URL and this browser's binding cookie."""
    with transaction.atomic():
        link = connect_link_get_usable(token=token, for_update=True)
        account = link.account
        connection = account.connection
        if connection.auth_type != Connection.AuthType.OAUTH2:
            raise ValidationFailed(
                f"Connection '{connection.name}' does not use OAuth.", code="connection_not_oauth"
            )
        client = oauth_client_for(connection)
        state = f"{tenant.slug}.{secrets.token_urlsafe(32)}"
        # 64 random bytes → 86 characters, inside RFC 7636's 43–128.
        verifier = secrets.token_urlsafe(64)
        redirect_uri = oauth_redirect_uri()
        binding, browser_hash = browser_binding_new(
            state=state, max_age=int(STATE_TTL.total_seconds())
        )
        connect_link_consume(link=link)
        oauth_state = OAuthState.objects.create(
            account=account,
            link=link,
            state_hash=tokens.hash_token(state),
            browser_hash=browser_hash,
            redirect_uri=redirect_uri,
            expires_at=timezone.now() + STATE_TTL,
        )
        secret_put(
            owner_type=OAUTH_STATE, owner_id=oauth_state.pk, field=VERIFIER_FIELD, value=verifier
        )
    spec = client.spec
    # A step-up link asks for the union of what the connection asks for, what the user was
    # granted before and the challenge's scopes (SEP-2350), so escalating one tool does not
    # drop what another needs.
    previous = list(account.scopes or []) if link.scopes else []
    scopes = list(dict.fromkeys([*oauth_scopes_for(connection), *previous, *(link.scopes or [])]))
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        spec.scope_param: spec.scope_separator.join(scopes),
        "state": state,
        "code_challenge": _s256(verifier),
        "code_challenge_method": "S256",
        **spec.extra_authorize_params,
    }
    if not scopes and connection.connector == "mcp":
        # No scope known: the MCP spec says to omit the parameter, not to send it empty.
        del params[spec.scope_param]
    separator = "&" if "?" in client.authorize_url else "?"
    return StartedFlow(
        authorize_url=client.authorize_url + separator + urlencode(params), binding=binding
    )


# ------------------------------------------------------------------ the callback


class ConnectFailed(ApplicationError):
    """The connect flow was refused; ``code`` is the reason shown on the page and audited."""

    status = 400


# Reasons that are the person's browser, not the flow, being wrong: 403 rather than 400.
FORBIDDEN_REASONS = frozenset({"wrong_browser"})

_FAILURE_MESSAGES = {
    "state_unknown": "This sign-in attempt is not recognised. Start again from your link.",
    "state_replayed": "This sign-in attempt was already used. Start again from a new link.",
    "state_expired": "This sign-in attempt took too long. Start again from a new link.",
    "wrong_browser": (
        "This sign-in was started in another browser, so nothing was connected. If you did not"
        " start it yourself, someone may have sent you their link: ignore it. Otherwise open"
        " a new connect link in this browser and press Continue there."
    ),
    "account_revoked": (
        "This account was revoked after this sign-in began, so nothing was connected."
        " Ask for a new link."
    ),
    "access_denied": "Access was not granted, so nothing was connected.",
    "provider_error": "The provider reported an error, so nothing was connected.",
    "missing_code": "The provider sent no authorization code, so nothing was connected.",
    "exchange_failed": "The provider refused to complete the sign-in, so nothing was connected.",
    "issuer_mismatch": (
        "The sign-in answer did not come from the expected authorization server,"
        " so nothing was connected."
    ),
}


@dataclass(frozen=True)
class ConnectResult:
    tenant: Tenant
    account: ConnectedAccount


def oauth_callback(
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    browser_secret: str | None,
    iss: str | None = None,
) -> ConnectResult:
    """Finish the flow: consume the state, exchange the code, store the tokens (ACTIVE).

    ``browser_secret`` is the value of this state's binding cookie in the calling browser.
    Every refusal raises ``ConnectFailed`` with a reason code, stores nothing, and is audited
    in the tenant when the state names one.
    """
    slug, dot, _ = (state or "").partition(".")
    tenant = tenant_get_by_slug(slug) if slug and dot else None
    if tenant is None:
        logger.info("oauth callback refused: state names no tenant")
        raise ConnectFailed(_FAILURE_MESSAGES["state_unknown"], code="state_unknown")
    with tenant_context(tenant):
        account = _callback_in_tenant(
            state=str(state), code=code, error=error, browser_secret=browser_secret, iss=iss
        )
    return ConnectResult(tenant=tenant, account=account)


def _callback_in_tenant(
    *,
    state: str,
    code: str | None,
    error: str | None,
    browser_secret: str | None,
    iss: str | None = None,
) -> ConnectedAccount:
    oauth_state, verifier, reason = _consume_state(state, browser_secret)
    if reason:
        _fail(reason, account=oauth_state.account if oauth_state else None)
    assert oauth_state is not None and verifier is not None
    account = oauth_state.account
    if error:
        _fail(
            "access_denied" if error == "access_denied" else "provider_error",
            account=account,
            extra={"provider_error": error[:64]},
        )
    if not code:
        _fail("missing_code", account=account)
    connection = account.connection
    if not _issuer_matches(connection, iss):
        # RFC 9207: a response from another authorization server (a mix-up attack) must not
        # have its code sent to this server's token endpoint.
        _fail("issuer_mismatch", account=account)
    try:
        client = oauth_client_for(connection)
        token = token_request(
            client,
            {
                "grant_type": "authorization_code",
                "code": str(code),
                "redirect_uri": oauth_state.redirect_uri,
                "code_verifier": verifier,
            },
            response_path=client.spec.token_response_path,
        )
    except TokenEndpointError as exc:
        _fail(
            "exchange_failed",
            account=account,
            extra={"provider_error": exc.provider_error or exc.kind},
            log=exc.message,
        )
    except ApplicationError as exc:
        _fail("exchange_failed", account=account, extra={"problem": exc.code}, log=exc.message)
    return _activate(oauth_state=oauth_state, token=token)


def _issuer_matches(connection: Connection, iss: str | None) -> bool:
    """An upstream MCP server's authorization response ``iss`` (RFC 9207): compared as a plain
    string with the discovered issuer when present; required when the server advertises it."""
    if connection.connector != "mcp":
        return True
    discovery = (connection.upstream_oauth or {}).get("discovery") or {}
    if iss is not None:
        return iss == discovery.get("issuer")
    return not discovery.get("iss_parameter_supported")


def _issued_at(oauth_state: OAuthState) -> Any:
    # The link's creation, not the state's: a link older than a revocation stays void even if
    # its flow raced the revocation (and it is far from the revocation, so clocks don't matter).
    return oauth_state.link.created_at if oauth_state.link else oauth_state.created_at


def _consume_state(
    state: str, browser_secret: str | None
) -> tuple[OAuthState | None, str | None, str]:
    """(state row, verifier, failure reason or ""); the state is spent in this transaction,
    also when it comes from the wrong browser or predates a revocation (burnt: an attacker
    who holds it can never use it)."""
    with transaction.atomic():
        oauth_state = (
            OAuthState.objects.select_for_update(of=("self",))
            .select_related("account__connection", "link")
            .filter(state_hash=tokens.hash_token(state))
            .first()
        )
        if oauth_state is None:
            return None, None, "state_unknown"
        if oauth_state.used_at is not None:
            return oauth_state, None, "state_replayed"
        if oauth_state.expires_at <= timezone.now():
            return oauth_state, None, "state_expired"
        oauth_state.used_at = timezone.now()
        oauth_state.save(update_fields=["used_at"])
        verifier = secret_get(owner_type=OAUTH_STATE, owner_id=oauth_state.pk, field=VERIFIER_FIELD)
        # The verifier is single-use too: once the state is spent nothing needs it.
        secret_delete(owner_type=OAUTH_STATE, owner_id=oauth_state.pk)
        if not browser_binding_matches(
            stored_hash=oauth_state.browser_hash, cookie_value=browser_secret
        ):
            return oauth_state, None, "wrong_browser"
        if account_issued_before_revocation(oauth_state.account, _issued_at(oauth_state)):
            return oauth_state, None, "account_revoked"
        if not verifier:
            return oauth_state, None, "state_unknown"
        return oauth_state, verifier, ""


def _fail(
    reason: str,
    *,
    account: ConnectedAccount | None,
    extra: dict[str, str] | None = None,
    log: str = "",
) -> NoReturn:
    audit_record(
        event_type=EventType.ACCOUNT_CONNECT_FAILED,
        outcome=Outcome.ERROR,
        error_code=reason,
        actor=f"identifier:{account.identifier}" if account else "",
        identifier=account.identifier if account else "",
        connection_name=account.connection.name if account else "",
        account_id=account.pk if account else None,
        extra=extra or {},
    )
    logger.info("oauth callback refused (%s)%s", reason, f": {log}" if log else "")
    status = 403 if reason in FORBIDDEN_REASONS else ConnectFailed.status
    raise ConnectFailed(_FAILURE_MESSAGES[reason], code=reason, status=status)


def _activate(*, oauth_state: OAuthState, token: dict[str, Any]) -> ConnectedAccount:
    account = _activate_unless_revoked(oauth_state=oauth_state, token=token)
    if account is None:
        # Outside the transaction, so the refusal's audit row is kept.
        _fail("account_revoked", account=oauth_state.account)
    _first_sync(account, str(token["access_token"]))
    return account


def _first_sync(account: ConnectedAccount, access_token: str) -> None:
    """An OAuth upstream MCP server lists its tools only to a signed-in user: the first user
    to connect lets vmcp discover them (best effort: the admin can sync again later)."""
    connection = account.connection
    if connection.connector != "mcp" or connection.tools:
        return
    from configs.services.connections import connection_sync_tools

    try:
        connection_sync_tools(
            connection=connection, actor=f"identifier:{account.identifier}", credential=access_token
        )
    except ApplicationError as exc:
        logger.info("first tool sync of %s failed: %s", connection.name, exc.code)


def _activate_unless_revoked(
    *, oauth_state: OAuthState, token: dict[str, Any]
) -> ConnectedAccount | None:
    with transaction.atomic():
        # Under the account's lock, which revocation also takes: a revocation that committed
        # while the code was being exchanged is seen here, and wins.
        account = (
            ConnectedAccount.objects.select_for_update(of=("self",))
            .select_related("connection")
            .filter(pk=oauth_state.account_id)
            .first()
        )
        if account is None or account_issued_before_revocation(account, _issued_at(oauth_state)):
            return None
        previous = secret_get(
            owner_type=Secret.OwnerType.ACCOUNT, owner_id=account.pk, field="api_key"
        )
        if previous is not None:
            secret_delete(owner_type=Secret.OwnerType.ACCOUNT, owner_id=account.pk, field="api_key")
        account_tokens_store(account=account, token=token)
        now = timezone.now()
        account.status = ConnectedAccount.Status.ACTIVE
        account.connected_at = now
        account.refreshed_at = None
        account.revoked_at = None
        account.last_error = ""
        provider_user_id = token.get("id") or token.get("user_id")
        if isinstance(provider_user_id, str):
            account.provider_user_id = provider_user_id[:255]
        account.save()
        audit_record(
            event_type=EventType.ACCOUNT_CONNECTED,
            actor=f"identifier:{account.identifier}",
            identifier=account.identifier,
            connection_name=account.connection.name,
            account_id=account.pk,
            extra={"method": "oauth2", "scopes": account.scopes},
        )
    return account
