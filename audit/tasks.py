"""Celery adapters for the retention purge: a daily fan-out, one task per tenant schema."""

from __future__ import annotations

import logging

from django.db import OperationalError, connection
from django_tenants.utils import get_public_schema_name, tenant_context

from tenants.models import Tenant
from vmcp_platform.celery import app

from .purge import purge_expired
from .spool import spool_drain

logger = logging.getLogger(__name__)


@app.task(name="audit.tasks.purge_all_tenants")
def purge_all_tenants() -> int:
    """Queue one ``purge_tenant`` per tenant, each sent from (and so run in) its schema."""
    tenants = Tenant.objects.exclude(schema_name=get_public_schema_name()).order_by("pk")
    queued = 0
    # Suspended tenants are purged too: retention is a promise about their data as well.
    for tenant in tenants.iterator():
        with tenant_context(tenant):
            purge_tenant.delay(tenant.pk)
        queued += 1
    logger.info("purge: queued for %d tenants", queued)
    return queued


@app.task(
    name="audit.tasks.purge_tenant",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def purge_tenant(tenant_id: int) -> dict[str, int]:
    """Purge one tenant's expired rows; tenant-schemas-celery selected its schema already."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:  # deleted since it was queued: its schema went with it
        return {}
    if connection.schema_name != tenant.schema_name:
        logger.warning(
            "purge: task for %s arrived in schema %s", tenant.schema_name, connection.schema_name
        )
    with tenant_context(tenant):
        return purge_expired(tenant=tenant)


@app.task(name="audit.tasks.drain_spool", ignore_result=True)
def drain_spool() -> int:
    """Insert audit rows spooled to Redis when the database refused them (see audit.spool)."""
    return spool_drain()
