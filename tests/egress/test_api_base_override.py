"""A built-in connector may be pointed at another host (GitHub Enterprise), but the dashboard
says so plainly, and the dashboard form refuses an internal address next to the field."""

from __future__ import annotations

from django.test import override_settings
from django_tenants.utils import tenant_context

from configs.models import Connection
from tests.dashboard.conftest import client_for, furnished  # noqa: F401
from tests.dashboard.test_pages import field_error

BASE = "/t/acme/dashboard"


def test_the_connection_page_shows_a_custom_api_base_url(acme, furnished):  # noqa: F811
    with tenant_context(acme):
        Connection.objects.create(
            name="ghe",
            connector="github",
            auth_type="api_key",
            settings={"api_base_url": "https://ghe.example.com/api/v3"},
        )
    client = client_for("audrey")
    page = client.get(f"{BASE}/connections/ghe/").content.decode()
    assert 'id="custom-api-base-url"' in page
    assert "Custom API base URL" in page
    assert "https://ghe.example.com/api/v3" in page
    plain = client.get(f"{BASE}/connections/gmail/").content.decode()
    assert "Custom API base URL" not in plain


def test_the_dashboard_form_refuses_a_loopback_api_base_url(furnished):  # noqa: F811
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=[]):
        response = client_for("bob").post(
            f"{BASE}/connections/new/",
            {
                "name": "ghe",
                "connector": "github",
                "auth_type": "api_key",
                "api_base_url": "http://localhost:8080/api/v3",
            },
        )
    assert response.status_code == 400
    assert "non-public address" in field_error(response.content.decode(), "api_base_url")
