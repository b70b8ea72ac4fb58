"""Writes for tenants, members and API keys."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from vmcp_platform import tokens
from vmcp_platform.errors import Conflict, NotFound, ValidationFailed

from .models import ApiKey, Domain, Membership, Tenant

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
# Path segments and names that would be confusing or collide with platform routes.
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "auth",
        "connect",
        "dashboard",
        "demo-public",
        "healthz",
        "login",
        "logout",
        "mcp",
        "oauth",
        "public",
        "readyz",
        "static",
        "system",
        "t",
        "www",
        "vmcp",
        "information-schema",
        "pg-catalog",
        "pg-toast",
    }
)


def tenant_validate_slug(slug: str) -> None:
    if not SLUG_RE.match(slug or ""):
        raise ValidationFailed(
            "A tenant slug is 1–50 characters of a–z, 0–9 and '-', not starting or ending "
            "with '-'.",
            details={"slug": slug},
        )
    if slug in RESERVED_SLUGS or slug.startswith("pg-"):
        raise ValidationFailed(f"The slug {slug!r} is reserved.", details={"slug": slug})


def user_get_or_create(*, email: str, password: str | None = None) -> AbstractBaseUser:
    User = get_user_model()
    email = User.objects.normalize_email(email).lower()
    if not email or "@" not in email:
        raise ValidationFailed("A valid e-mail address is required.", details={"email": email})
    user, created = User.objects.get_or_create(username=email, defaults={"email": email})
    if password is not None and (created or not user.has_usable_password()):
        user.set_password(password)
        user.save(update_fields=["password"])
    elif created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def membership_set(*, tenant: Tenant, user: AbstractBaseUser, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationFailed(
            f"Unknown role {role!r}; choose one of {', '.join(Membership.Role.values)}.",
            details={"role": role},
        )
    membership, _ = Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


def tenant_create(
    *, slug: str, name: str, owner_email: str, owner_password: str | None = None
) -> Tenant:
    """Create the tenant, its schema (running tenant migrations) and its owner."""
    tenant_validate_slug(slug)
    if Tenant.objects.filter(slug=slug).exists():
        raise Conflict(f"A tenant with the slug {slug!r} already exists.", details={"slug": slug})
    if not name.strip():
        raise ValidationFailed("A tenant needs a name.", details={"name": name})
    # Schema creation runs DDL and migrations; it cannot share a transaction with the rows.
    tenant = Tenant(slug=slug, name=name.strip(), schema_name=Tenant.schema_for(slug))
    tenant.save()
    try:
        with transaction.atomic():
            Domain.objects.create(tenant=tenant, domain=f"{slug}.tenant.local", is_primary=True)
            owner = user_get_or_create(email=owner_email, password=owner_password)
            membership_set(tenant=tenant, user=owner, role=Membership.Role.OWNER)
    except Exception:
        tenant.delete(force_drop=True)
        raise
    logger.info("tenant created: %s (schema %s)", slug, tenant.schema_name)
    return tenant


def tenant_delete(*, tenant: Tenant) -> None:
    """Drop the tenant's schema and rows. Its data key goes with the schema (crypto-shredding)."""
    slug, schema = tenant.slug, tenant.schema_name
    tenant.delete(force_drop=True)
    logger.info("tenant deleted: %s (schema %s dropped)", slug, schema)


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def api_key_create(*, tenant: Tenant, name: str, created_by: str = "") -> CreatedApiKey:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(
            "An API key needs a name of 1–100 characters.", details={"name": name}
        )
    secret = tokens.generate(tokens.API_KEY_PREFIX)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            tenant=tenant,
            name=name,
            prefix=tokens.display_prefix(secret),
            key_hash=tokens.hash_token(secret),
            created_by=created_by,
        )
        _audit(
            tenant,
            "apikey.created",
            actor=created_by,
            extra={"api_key_id": api_key.pk, "name": name},
        )
    return CreatedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, tenant: Tenant, api_key_id: int, revoked_by: str = "") -> ApiKey:
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(tenant=tenant, pk=api_key_id).first()
        if api_key is None:
            raise NotFound("No such API key.", details={"id": api_key_id})
        if api_key.revoked_at is None:
            api_key.revoked_at = timezone.now()
            api_key.save(update_fields=["revoked_at"])
            _audit(tenant, "apikey.revoked", actor=revoked_by, extra={"api_key_id": api_key.pk})
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    # At most one write a minute per key: the hot path should not write on every request.
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def _audit(tenant: Tenant, event_type: str, *, actor: str, extra: dict) -> None:
    """Record into the tenant's audit trail (the audit app owns the model)."""
    from audit.services import audit_record_for_tenant

    audit_record_for_tenant(tenant=tenant, event_type=event_type, actor=actor, extra=extra)
