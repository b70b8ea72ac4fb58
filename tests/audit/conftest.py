"""Fixtures for the audit tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from django.db import connection

from tenants.models import Tenant
from tests.audit.factories import ShortLived
from tests.conftest import PASSWORD


@pytest.fixture
def short_lived() -> Callable[[], ShortLived]:
    return ShortLived


@pytest.fixture
def committed_tenant(django_db_blocker, django_db_setup) -> Iterator[Callable[[str], Tenant]]:  # noqa: ANN001
    """Make more committed tenants (like ``live_tenant``); all are dropped after the test."""
    from tenants.services import tenant_create, tenant_delete

    made: list[Tenant] = []

    def make(label: str) -> Tenant:
        slug = f"live-{label}-{os.getpid() % 1000}"
        with django_db_blocker.unblock():
            existing = Tenant.objects.filter(slug=slug).first()
            if existing:
                tenant_delete(tenant=existing)
            tenant = tenant_create(
                slug=slug, name=slug, owner_email=f"owner@{slug}.test", owner_password=PASSWORD
            )
            connection.set_schema_to_public()
        made.append(tenant)
        return tenant

    yield make
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        for tenant in made:
            tenant_delete(tenant=tenant)
