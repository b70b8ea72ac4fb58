"""An audit row names the API key that acted; only secrets are redacted, never names."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from tests.dashboard.conftest import client_for


@pytest.fixture
def backend_api(acme):  # noqa: ANN001
    from rest_framework.test import APIClient

    from tenants.services import api_key_create

    key = api_key_create(tenant=acme, name="billing-backend", created_by="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    return client, key


def test_an_api_key_actor_keeps_the_keys_name_in_the_row_and_the_dashboard(acme, backend_api):
    from audit.models import AuditEvent

    api, key = backend_api
    response = api.post(
        "/t/acme/api/v1/connections",
        {"name": "demo-actor", "connector": "demo", "auth_type": "none"},
        format="json",
    )
    assert response.status_code == 201, response.content

    with tenant_context(acme):
        event = AuditEvent.objects.filter(connection_name="demo-actor").latest("id")
    assert event.actor == f"apikey:{key.api_key.pk}:billing-backend"

    page = client_for("alice").get(f"/t/acme/dashboard/audit/{event.pk}/")
    assert page.status_code == 200
    assert "API key billing-backend" in page.content.decode()
    assert "[REDACTED]" not in page.content.decode()


def test_a_secret_inside_an_actor_is_still_redacted(acme):
    from audit.services import audit_record

    with tenant_context(acme):
        event = audit_record(
            event_type="token.minted",
            actor="identifier:vmcp_st_" + "A" * 46,
        )
    assert event.actor == "identifier:vmcp_st_[REDACTED]"
