"""Creating an openapi connection through the API, and calling its tools end to end against a
loopback API that validates every request against the same document (openapi-core)."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from django_tenants.utils import tenant_context

from configs.models import Connection
from tests.gateway.test_execution_support import run
from vault.services.accounts import account_get_or_create, account_store_api_key

from .fake_api import FakeApi
from .support import PETSTORE, document

BASE = "/t/acme/api/v1"
LOOPBACK = override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1"])


@pytest.fixture
def fake_api():
    with LOOPBACK, FakeApi(PETSTORE) as api:
        yield api


def _create(api, fake_api, **settings):  # noqa: ANN001
    body = {
        "name": "pets",
        "connector": "openapi",
        "auth_type": "api_key",
        "settings": {
            "document": document(PETSTORE),
            "server_url": fake_api.url,
            "security_scheme": "api_key",
            **settings,
        },
    }
    return api.post(f"{BASE}/connections", body, format="json")


def test_created_from_an_inline_document_with_its_tools_and_what_was_skipped(acme_api, fake_api):
    response = _create(acme_api, fake_api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["settings"]["auth"] == {
        "kind": "api_key",
        "in": "header",
        "name": "api_key",
        "scheme": "api_key",
    }
    assert "document" not in body["settings"]
    assert [s["operation_id"] for s in body["tools_changes"]["skipped"]] == ["uploadFile"]
    tools = acme_api.get(f"{BASE}/connections/pets/tools").json()["data"]
    assert len(tools) == 19 and "pets_get_pet_by_id" in {t["name"] for t in tools}
    assert all("x-vmcp-request" not in t for t in tools)  # the plan never reaches agents


def test_each_user_key_reaches_the_api_and_requests_match_the_document(acme, acme_api, fake_api):
    assert _create(acme_api, fake_api).status_code == 201
    with tenant_context(acme):
        connection = Connection.objects.get(name="pets")
        for user in ("alice", "bob"):
            account = account_get_or_create(connection=connection, identifier=user, actor="t")
            account_store_api_key(account=account, api_key=f"key-of-{user}", actor="t")
        got = run(
            acme,
            connection_name="pets",
            tool_name="pets_get_pet_by_id",
            identifier="alice",
            arguments={"petId": 7},
        )
        assert got.error is None, got.result
        assert got.result.structured["id"] == 7
        found = run(
            acme,
            connection_name="pets",
            tool_name="pets_find_pets_by_status",
            identifier="bob",
            arguments={"status": ["sold", "pending"]},
        )
        assert [p["status"] for p in found.result.structured["result"]] == ["sold", "pending"]
        added = run(
            acme,
            connection_name="pets",
            tool_name="pets_add_pet",
            identifier="bob",
            arguments={"name": "rex", "photoUrls": ["u"], "status": "available"},
        )
        assert json.loads(added.result.content[0]["text"])["name"] == "rex"
        missing = run(
            acme,
            connection_name="pets",
            tool_name="pets_get_pet_by_id",
            identifier="alice",
            arguments={"petId": 404},
        )
    assert fake_api.errors == []
    assert [s["key"] for s in fake_api.seen] == [
        "key-of-alice",
        "key-of-bob",
        "key-of-bob",
        "key-of-alice",
    ]
    assert missing.result.is_error and "Pet not found" in missing.result.content[0]["text"]


def test_a_shared_credential_is_sent_for_everybody(acme, acme_api, fake_api):
    response = acme_api.post(
        f"{BASE}/connections",
        {
            "name": "pets",
            "connector": "openapi",
            "auth_type": "shared_header",
            "settings": {"document": document(PETSTORE), "server_url": fake_api.url},
            "secrets": {"shared_credential": "the-shared-key"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "the-shared-key" not in response.content.decode()
    with tenant_context(acme):
        got = run(
            acme,
            connection_name="pets",
            tool_name="pets_get_pet_by_id",
            identifier="anyone",
            arguments={"petId": 1},
        )
    assert got.error is None and fake_api.errors == []
    # The document's first scheme is OAuth2 (not supported yet), so api_key was chosen.
    assert fake_api.seen[-1]["key"] == "the-shared-key"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"servers": [{"url": "http://169.254.169.254/latest"}]}, "unsafe_url"),
        ({"servers": [{"url": "http://10.0.0.5/api"}]}, "unsafe_url"),
        ({"swagger": "2.0"}, "invalid_openapi_document"),
        (
            {
                "paths": {
                    "/x": {"get": {"responses": {"200": {"$ref": "#/components/responses/A"}}}}
                },
                "components": {
                    "responses": {
                        "A": {"$ref": "#/components/responses/B"},
                        "B": {"$ref": "#/components/responses/A"},
                    }
                },
            },
            "invalid_openapi_document",
        ),
        (
            {
                "paths": {
                    f"/p{i}": {"get": {"responses": {"200": {"description": "ok"}}}}
                    for i in range(2001)
                }
            },
            "invalid_openapi_document",
        ),
        (
            {
                "paths": {
                    "/x": {
                        "get": {
                            "parameters": [{"$ref": "https://evil.example/p.json"}],
                            "responses": {"200": {"description": "ok"}},
                        }
                    }
                }
            },
            "invalid_openapi_document",
        ),
        ({"info": "not an object"}, "invalid_openapi_document"),
    ],
    ids=[
        "metadata-ip",
        "private-ip",
        "swagger2",
        "cyclic-refs",
        "too-many-ops",
        "external-ref",
        "malformed",
    ],
)
def test_a_hostile_or_malformed_document_is_refused_and_changes_nothing(
    acme, acme_api, change, code
):
    doc = {**document(PETSTORE), **change}
    response = acme_api.post(
        f"{BASE}/connections",
        {
            "name": "pets",
            "connector": "openapi",
            "auth_type": "none",
            "settings": {"document": doc},
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    with tenant_context(acme):
        assert not Connection.objects.exists()


def test_a_huge_document_is_refused(acme, acme_api, settings):
    settings.VMCP_OPENAPI_MAX_DOCUMENT_BYTES = 100_000
    doc = document(PETSTORE)
    doc["info"]["description"] = "x" * 200_000
    response = acme_api.post(
        f"{BASE}/connections",
        {
            "name": "pets",
            "connector": "openapi",
            "auth_type": "none",
            "settings": {"document": json.dumps(doc)},
        },
        format="json",
    )
    assert response.status_code == 400
    assert "at most 100000" in response.json()["error"]["message"]


def test_a_recursive_schema_is_cut_not_refused(acme, acme_api, fake_api):
    doc = document(PETSTORE)
    doc["components"]["schemas"]["Category"]["properties"]["parent"] = {
        "$ref": "#/components/schemas/Category"
    }
    response = acme_api.post(
        f"{BASE}/connections",
        {
            "name": "pets",
            "connector": "openapi",
            "auth_type": "none",
            "settings": {"document": doc, "server_url": fake_api.url},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    tools = {t["name"]: t for t in acme_api.get(f"{BASE}/connections/pets/tools").json()["data"]}
    parent = tools["pets_add_pet"]["inputSchema"]["properties"]["category"]["properties"]["parent"]
    assert parent == {"description": "Category (recursive; not expanded)"}
