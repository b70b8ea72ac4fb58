"""Celery adapters for token refresh: a periodic fan-out, one task per tenant schema.

Spent connect links and OAuth states are cleaned by the audit app's daily purge."""

from __future__ import annotations

import logging

from django.db import OperationalError
from django_tenants.utils import get_public_schema_name, tenant_context

from accounts.services.refresh import accounts_refresh_expiring
from tenants.models import Tenant
from vmcp_platform.celery import app

logger = logging.getLogger(__name__)

# Refresh ahead by more than the beat interval, so no token expires between two runs.
REFRESH_HORIZON_SECONDS = 15 * 60


# Explicit names, as first registered (before the module moved to accounts): beat schedules and
# messages already queued refer to them (scripts/relayout.py KEEP).
@app.task(name="vault.tasks.refresh_expiring_all_tenants")
def refresh_expiring_all_tenants() -> int:
    """Queue one ``refresh_expiring_accounts`` per active tenant, sent from its schema."""
    tenants = Tenant.objects.exclude(schema_name=get_public_schema_name()).filter(
        status=Tenant.Status.ACTIVE
    )
    queued = 0
    for tenant in tenants.order_by("pk").iterator():
        with tenant_context(tenant):
            refresh_expiring_accounts.delay(tenant.pk)
        queued += 1
    return queued


@app.task(
    name="vault.tasks.refresh_expiring_accounts",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def refresh_expiring_accounts(tenant_id: int) -> dict[str, int]:
    """Refresh the tenant's OAuth accounts whose access tokens expire within the horizon."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return {}
    with tenant_context(tenant):
        counts = accounts_refresh_expiring(within_seconds=REFRESH_HORIZON_SECONDS)
    if counts.get("failed"):
        logger.warning("refresh: %d account(s) of %s failed", counts["failed"], tenant.slug)
    return counts
