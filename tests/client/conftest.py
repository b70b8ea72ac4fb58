"""A live tenant with an API key, for the Python client (clients/python) against daphne."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tenants.models import Tenant


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    tenant: Tenant
    api_key: str


@pytest.fixture
def live_api(live_server_url, live_tenant, django_db_blocker) -> LiveApi:  # noqa: ANN001
    from tenants.services import api_key_create

    with django_db_blocker.unblock():
        secret = api_key_create(tenant=live_tenant, name="client-tests", created_by="tests").secret
    return LiveApi(base_url=live_server_url, tenant=live_tenant, api_key=secret)
