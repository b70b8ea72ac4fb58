"""The OpenAPI schema: valid, complete, honoured by the API (schemathesis), docs served offline."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django_tenants.utils import tenant_context
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from configs.models import Connection
from configs.services.mcp_configs import mcp_config_create
from tenants.services import api_key_create

TENANT_PREFIX = "/t/{tenant}/api/v1/"


def _schema() -> dict:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


SCHEMA = _schema()

schema = schemathesis.openapi.from_dict(
    SCHEMA,
    config=SchemathesisConfig.from_dict(
        {
            "parameters": {"path.tenant": "acme"},
            "generation": {"max-examples": 5, "deterministic": True, "database": "none"},
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "stateful": {"enabled": False},
            },
        }
    ),
)
schema.app = get_wsgi_application()


def test_schema_documents_every_endpoint_under_the_tenant_prefix():
    paths = SCHEMA["paths"]
    assert paths, "no API paths in the schema"
    for path, operations in paths.items():
        assert path.startswith(TENANT_PREFIX), path
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            tenant = [p for p in operation["parameters"] if p["name"] == "tenant"]
            assert tenant and tenant[0]["in"] == "path" and tenant[0]["required"], where
            assert operation["security"] == [{"tenantApiKey": []}], where
            success = [c for c in operation["responses"] if c.startswith("2")]
            assert success, where
            for code in ("401", "404"):
                error = operation["responses"][code]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}, where
    for path in (
        "/t/{tenant}/api/v1/mcp/configs",
        "/t/{tenant}/api/v1/mcp/configs/{config_id}",
        "/t/{tenant}/api/v1/mcp/configs/{config_id}/connected_accounts",
        "/t/{tenant}/api/v1/mcp/configs/{config_id}/tokens",
        "/t/{tenant}/api/v1/mcp/configs/{config_id}/tokens/revoke",
        "/t/{tenant}/api/v1/mcp/tokens/{token_id}",
        "/t/{tenant}/api/v1/end_users/revoke",
    ):
        assert path in paths
    scheme = SCHEMA["components"]["securitySchemes"]["tenantApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert set(SCHEMA["components"]["schemas"]["Error"]["properties"]) == {"error"}


@pytest.fixture
def in_process_requests() -> Iterator[None]:
    """Keep the test's connection across WSGI requests, as Django's test client does.

    The handler's request signals close a connection inside a transaction, which would end
    the rolled-back test transaction (and every later query) mid-test.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def acme_key(acme, in_process_requests) -> str:  # noqa: ANN001
    """An acme API key, and a little data so reads have something to return."""
    with tenant_context(acme):
        if not Connection.objects.filter(name="demo").exists():
            Connection.objects.create(name="demo", connector="demo", auth_type="none")
            mcp_config_create(
                name="fuzzed",
                mappings=[{"connection_name": "demo", "tools": ["*"]}],
                actor="tests",
            )
    return api_key_create(tenant=acme, name="schemathesis", created_by="tests").secret


@schema.parametrize()
@settings(
    max_examples=5,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_honours_its_schema(case, acme_key):  # noqa: ANN001
    case.path_parameters = {**(case.path_parameters or {}), "tenant": "acme"}
    case.call_and_validate(
        headers={"Authorization": f"Bearer {acme_key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_render_without_external_urls(db, path):  # noqa: ANN001
    response = Client().get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html), html
    assert "cdn" not in html.lower()
    assets = re.findall(r"""/static/([^"'\s]+\.(?:js|css))""", html)
    assert assets
    for asset in assets:
        assert finders.find(asset), asset
    schema_url = "/api/v1/schema/"
    assert schema_url in html
    schema_response = Client().get(schema_url, HTTP_ACCEPT="application/json")
    assert schema_response.status_code == 200


def test_malformed_uuid_in_path_is_an_api_404(acme_api):
    response = acme_api.get(f"/t/acme/api/v1/mcp/configs/{uuid.uuid4().hex[:8]}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
