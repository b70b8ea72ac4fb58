"""Reads for tenants, members and API keys."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from vmcp_platform import tokens

from .models import ApiKey, Membership, Tenant


def tenant_get_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()


def membership_get(*, user: AbstractBaseUser, tenant: Tenant) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, tenant=tenant).first()


def memberships_for_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, tenant__status=Tenant.Status.ACTIVE)
        .select_related("tenant")
        .order_by("tenant__name")
    )


def memberships_for_tenant(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__email")


def api_key_get_active(*, secret: str, tenant: Tenant) -> ApiKey | None:
    """The tenant's active key for this secret; a key of another tenant does not exist here."""
    if not tokens.is_well_formed(secret, tokens.API_KEY_PREFIX):
        return None
    return (
        ApiKey.objects.filter(
            key_hash=tokens.hash_token(secret), tenant=tenant, revoked_at__isnull=True
        )
        .select_related("tenant")
        .first()
    )


def api_keys_for_tenant(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at")
