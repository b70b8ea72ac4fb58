"""Connect links: random, single-use, short-lived URLs an end user opens to connect an account.

Only the SHA-256 of the link token is stored; the URL exists once, in the response that
created it. Revoking the account voids every link created before the revocation, used or not
(``link_revoked``): reconnecting needs a new link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_tenant_model

from audit.models import EventType
from audit.services import audit_record
from tenants.models import Tenant
from vault.models import ConnectedAccount, ConnectLink
from vmcp_platform import tokens
from vmcp_platform.errors import ApplicationError, NotFound, ValidationFailed

MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class CreatedLink:
    link: ConnectLink
    url: str
    expires_at: datetime


def current_tenant() -> Tenant:
    """The tenant whose schema is selected (``tenant_context`` sets it; ``schema_context``
    only sets the schema name, so fall back to looking the tenant up)."""
    tenant = getattr(db_connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    return get_tenant_model().objects.get(schema_name=db_connection.schema_name)


def connect_url(*, tenant: Tenant, token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/t/{tenant.slug}/connect/{token}"


def connect_link_create(
    *,
    account: ConnectedAccount,
    actor: str,
    ttl_seconds: int | None = None,
    scopes: list[str] | None = None,
) -> CreatedLink:
    """A fresh single-use link for the account's user (default TTL from settings); ``scopes``
    are asked for on top of the connection's (a step-up)."""
    ttl = settings.VMCP_CONNECT_LINK_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int)
        or not (MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS)
    ):
        raise ValidationFailed(
            f"ttl_seconds must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}.",
            details={"field": "ttl_seconds"},
        )
    tenant = current_tenant()
    token = tokens.generate(tokens.CONNECT_LINK_PREFIX)
    expires_at = timezone.now() + timedelta(seconds=ttl)
    with transaction.atomic():
        link = ConnectLink.objects.create(
            account=account,
            token_hash=tokens.hash_token(token),
            created_by=actor[:255],
            expires_at=expires_at,
            scopes=list(scopes or []),
        )
        audit_record(
            event_type=EventType.CONNECT_LINK_CREATED,
            actor=actor,
            identifier=account.identifier,
            connection_name=account.connection.name,
            account_id=account.pk,
            extra={"link_id": link.pk, "expires_at": expires_at.isoformat()},
        )
    return CreatedLink(
        link=link, url=connect_url(tenant=tenant, token=token), expires_at=expires_at
    )


class LinkUnusable(ApplicationError):
    """The link exists but was used or has expired: 410 Gone."""

    status = 410


def connect_link_get_usable(*, token: str, for_update: bool = False) -> ConnectLink:
    """The unused, unexpired link for ``token`` in the current tenant, or a clear error.

    Unknown (or another tenant's) → 404 ``link_not_found``; created before the account was
    revoked → 410 ``link_revoked``; used → 410 ``link_used``; expired → 410 ``link_expired``.
    ``for_update`` locks the row (call inside a transaction).
    """
    from .accounts import account_issued_before_revocation

    if not tokens.is_well_formed(token, tokens.CONNECT_LINK_PREFIX):
        raise NotFound("This connect link is not valid.", code="link_not_found")
    links = ConnectLink.objects.select_related("account__connection")
    if for_update:
        links = links.select_for_update(of=("self",))
    link = links.filter(token_hash=tokens.hash_token(token)).first()
    if link is None:
        raise NotFound("This connect link is not valid.", code="link_not_found")
    if account_issued_before_revocation(link.account, link.created_at):
        raise _link_revoked()
    if link.used_at is not None:
        raise LinkUnusable(
            "This connect link has already been used. Ask for a new one.", code="link_used"
        )
    if link.expires_at <= timezone.now():
        raise LinkUnusable("This connect link has expired. Ask for a new one.", code="link_expired")
    return link


def _link_revoked() -> LinkUnusable:
    return LinkUnusable(
        "This connect link was cancelled when the account was revoked. Ask for a new one.",
        code="link_revoked",
    )


def connect_link_consume(*, link: ConnectLink) -> None:
    """Mark a (locked) link used so it can never start another flow."""
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])


def connect_link_store_api_key(*, token: str, api_key: str) -> ConnectedAccount:
    """The end user pasted their key on the connect page: spend the link, keep the key."""
    from .accounts import account_issued_before_revocation, account_store_api_key

    with transaction.atomic():
        link = connect_link_get_usable(token=token, for_update=True)
        account = link.account
        # Validation inside the same transaction: a rejected key leaves the link usable.
        account = account_store_api_key(
            account=account, api_key=api_key, actor=f"identifier:{account.identifier}"
        )
        # Re-checked under the account's lock: a revocation that committed meanwhile wins
        # (raising here rolls the key back).
        if account_issued_before_revocation(account, link.created_at):
            raise _link_revoked()
        connect_link_consume(link=link)
    return account
