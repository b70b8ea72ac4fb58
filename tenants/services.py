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

from . import signals
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
    # A password is set only on an account this call creates: an existing one without a
    # password is someone's (added by e-mail to some tenant) and gets one by signing in to a
    # reset link, never from whoever happens to know the address.
    if password is not None and created:
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


# Bounds of the settings a tenant admin may change, checked before anything is written.
TENANT_SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "audit_retention_days": (1, 3650),
    "rate_limit_per_minute": (1, 1_000_000),
    "user_rate_limit_per_minute": (1, 1_000_000),
    "end_user_rate_limit_per_minute": (1, 1_000_000),
}
TENANT_SETTING_FLAGS = frozenset({"store_tool_arguments"})


def tenant_settings_update(*, tenant: Tenant, actor: str, **fields: object) -> Tenant:
    """Change the tenant's own settings; every invalid field is reported, none is written."""
    errors: dict[str, str] = {}
    for name, value in fields.items():
        if name in TENANT_SETTING_FLAGS:
            if not isinstance(value, bool):
                errors[name] = "Must be true or false."
        elif name in TENANT_SETTING_BOUNDS:
            low, high = TENANT_SETTING_BOUNDS[name]
            # bool is an int in Python; True is not a retention period.
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = "Must be a whole number."
            elif not low <= value <= high:
                errors[name] = f"Must be between {low:,} and {high:,}."
        else:
            errors[name] = "Not a setting that can be changed."
    if errors:
        raise ValidationFailed(
            "Some settings are not valid: " + ", ".join(sorted(errors)) + ".",
            details={"fields": errors},
        )
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changes = {
            name: {"from": getattr(locked, name), "to": value}
            for name, value in fields.items()
            if getattr(locked, name) != value
        }
        if changes:
            for name in changes:
                setattr(locked, name, fields[name])
            locked.save(update_fields=list(changes))
            _audit(tenant, "settings.changed", actor=actor, extra={"changes": changes})
    for name in changes:
        setattr(tenant, name, fields[name])
    return tenant


def membership_change(*, tenant: Tenant, email: str, role: str, actor: str) -> Membership:
    """Add a member by e-mail (creating a password-less user if new) or change their role."""
    if role not in Membership.Role.values:
        raise ValidationFailed(
            f"Unknown role {role!r}; choose one of {', '.join(Membership.Role.values)}.",
            details={"fields": {"role": "Choose owner, admin or auditor."}},
        )
    with transaction.atomic():
        user = user_get_or_create(email=email)
        current = Membership.objects.select_for_update().filter(tenant=tenant, user=user).first()
        if current is not None and current.role == role:
            return current
        if current is not None and current.role == Membership.Role.OWNER:
            _ensure_another_owner(tenant, current)
        membership = membership_set(tenant=tenant, user=user, role=role)
        _audit(
            tenant,
            "member.changed",
            actor=actor,
            extra={
                "member": user.get_username(),
                "from": current.role if current else None,
                "to": role,
            },
        )
    return membership


def membership_remove(*, tenant: Tenant, membership_id: int, actor: str) -> None:
    """Take a user out of the tenant; the last owner cannot be removed."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .select_related("user")
            .filter(tenant=tenant, pk=membership_id)
            .first()
        )
        if membership is None:
            raise NotFound("No such member.", details={"id": membership_id})
        if membership.role == Membership.Role.OWNER:
            _ensure_another_owner(tenant, membership)
        member, role = membership.user.get_username(), membership.role
        membership.delete()
        _audit(
            tenant,
            "member.changed",
            actor=actor,
            extra={"member": member, "from": role, "to": None},
        )


def _ensure_another_owner(tenant: Tenant, membership: Membership) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(tenant=tenant, role=Membership.Role.OWNER)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise Conflict(
            "A tenant needs at least one owner; make someone else owner first.",
            details={"fields": {"role": "The last owner must stay owner."}},
        )


def _audit(tenant: Tenant, event_type: str, *, actor: str, extra: dict) -> None:
    """Record into the tenant's audit trail: the audit app, above tenants, receives the signal."""
    signals.tenant_changed.send(
        sender=Tenant, tenant=tenant, event_type=event_type, actor=actor, extra=extra
    )
