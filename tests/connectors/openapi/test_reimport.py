"""Re-importing a changed document: the admin previews the diff (tools added, removed, changed,
and what each virtual server would stop or start exposing) before applying it; virtual servers
keep their allow-lists. And the guard on moving stored credentials to another host."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django_tenants.utils import tenant_context

from accounts.services.accounts import account_get_or_create, account_store_api_key
from audit.models import AuditEvent
from configs.models import Connection, McpConfig
from configs.services.mcp_configs import mcp_config_create
from configs.tools import config_exposed_tools

from .fake_api import FakeApi
from .support import PETSTORE, document
from .test_connection_api import BASE, LOOPBACK


@pytest.fixture
def pets(acme, acme_api):  # noqa: ANN001
    with LOOPBACK, FakeApi(PETSTORE) as api:
        created = acme_api.post(
            f"{BASE}/connections",
            {
                "name": "pets",
                "connector": "openapi",
                "auth_type": "api_key",
                "settings": {
                    "document": document(PETSTORE),
                    "server_url": api.url,
                    "security_scheme": "api_key",
                },
            },
            format="json",
        )
        assert created.status_code == 201, created.content
        with tenant_context(acme):
            mcp_config_create(
                name="listed",
                mappings=[
                    {"connection_name": "pets", "tools": ["pets_get_pet_by_id", "pets_delete_pet"]}
                ],
                actor="t",
            )
            mcp_config_create(
                name="everything", mappings=[{"connection_name": "pets", "tools": ["*"]}], actor="t"
            )
        yield api


def _changed_document() -> dict:
    doc = document(PETSTORE)
    del doc["paths"]["/pet/{petId}"]["delete"]
    doc["paths"]["/pet/{petId}"]["get"]["summary"] = "Find one pet"
    doc["paths"]["/pet/{petId}/vaccinations"] = {
        "get": {
            "operationId": "listVaccinations",
            "parameters": [
                {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "responses": {"200": {"description": "ok"}},
        }
    }
    doc["info"]["version"] = "2.0.0"
    return doc


def _tool_names(api) -> set[str]:  # noqa: ANN001
    return {t["name"] for t in api.get(f"{BASE}/connections/pets/tools").json()["data"]}


def _exposed(tenant, config: str) -> list[str]:  # noqa: ANN001
    with tenant_context(tenant):
        return [t.exposed_name for t in config_exposed_tools(McpConfig.objects.get(name=config))]


def test_preview_shows_the_diff_and_what_each_server_loses_and_stores_nothing(acme, acme_api, pets):
    before = _tool_names(acme_api)
    response = acme_api.post(
        f"{BASE}/connections/pets/openapi/preview",
        {"settings": {"document": _changed_document()}},
        format="json",
    )
    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["added"] == ["pets_list_vaccinations"]
    assert preview["removed"] == ["pets_delete_pet"]
    assert preview["changed"] == ["pets_get_pet_by_id"]
    assert preview["changed_parts"]["pets_get_pet_by_id"] == ["description", "annotations"]
    assert preview["tools_count"] == 19
    assert preview["document_info"]["version"] == "2.0.0"
    assert preview["previous_document_info"]["version"] == "1.0.0"
    assert [s["operation_id"] for s in preview["skipped"]] == ["uploadFile"]
    assert preview["credential_move"] is None
    servers = {s["config_name"]: s for s in preview["servers_affected"]}
    assert servers["listed"]["tools_removed"] == ["pets_delete_pet"]
    assert servers["listed"]["tools_added"] == [] and servers["listed"]["allow_list_kept"]
    assert servers["everything"]["tools_removed"] == ["pets_delete_pet"]
    assert servers["everything"]["tools_added"] == ["pets_list_vaccinations"]
    # Nothing took effect.
    assert _tool_names(acme_api) == before
    assert "pets_delete_pet" in _exposed(acme, "listed")


def test_applying_keeps_allow_lists_and_removed_tools_leave_the_effective_set(acme, acme_api, pets):
    applied = acme_api.patch(
        f"{BASE}/connections/pets",
        {"settings": {"document": _changed_document()}},
        format="json",
    )
    assert applied.status_code == 200, applied.content
    changes = applied.json()["tools_changes"]
    assert (changes["added"], changes["removed"]) == (
        ["pets_list_vaccinations"],
        ["pets_delete_pet"],
    )
    assert changes["changed_parts"] == {"pets_get_pet_by_id": ["description", "annotations"]}
    assert "pets_delete_pet" not in _tool_names(acme_api)
    assert _exposed(acme, "listed") == ["pets_get_pet_by_id"]
    assert "pets_list_vaccinations" in _exposed(acme, "everything")
    with tenant_context(acme):
        mapping = McpConfig.objects.get(name="listed").mappings.get()
        # The allow-list is untouched: a document that brings the tool back re-exposes it.
        assert mapping.tools == ["pets_get_pet_by_id", "pets_delete_pet"]
    back = acme_api.patch(
        f"{BASE}/connections/pets", {"settings": {"document": document(PETSTORE)}}, format="json"
    )
    assert back.status_code == 200
    assert _exposed(acme, "listed") == ["pets_get_pet_by_id", "pets_delete_pet"]


def test_a_preview_of_a_hostile_document_is_a_clear_error(acme_api, pets):
    doc = {**document(PETSTORE), "servers": [{"url": "http://10.0.0.5/api"}]}
    response = acme_api.post(
        f"{BASE}/connections/pets/openapi/preview",
        {"settings": {"document": doc, "server_url": "http://10.0.0.5/api"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsafe_url"
    empty = acme_api.post(
        f"{BASE}/connections/pets/openapi/preview", {"settings": {}}, format="json"
    )
    assert empty.status_code == 400


def test_moving_stored_keys_to_another_host_needs_confirmation(acme, acme_api, pets):
    with tenant_context(acme):
        connection = Connection.objects.get(name="pets")
        account = account_get_or_create(connection=connection, identifier="alice", actor="t")
        account_store_api_key(account=account, api_key="key-of-alice", actor="t")
    other = "http://127.0.0.2:9/v2"
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1", "127.0.0.2"]):
        refused = acme_api.patch(
            f"{BASE}/connections/pets", {"settings": {"server_url": other}}, format="json"
        )
        assert refused.status_code == 409, refused.content
        error = refused.json()["error"]
        assert error["code"] == "credentials_would_move"
        assert error["details"] == {"fields": ["server_url"], "credentials": 1}
        assert "key-of-alice" not in refused.content.decode()
        with tenant_context(acme):
            assert Connection.objects.get(name="pets").settings["server_url"] == pets.url
        # A re-import naming another server is the same move.
        reimported = acme_api.patch(
            f"{BASE}/connections/pets",
            {"settings": {"document": document(PETSTORE), "server_url": other}},
            format="json",
        )
        assert reimported.status_code == 409
        preview = acme_api.post(
            f"{BASE}/connections/pets/openapi/preview",
            {"settings": {"document": document(PETSTORE), "server_url": other}},
            format="json",
        ).json()
        assert preview["credential_move"]["fields"] == ["server_url"]
        # Same host, another path: the credentials still go where they were issued.
        same_host = acme_api.patch(
            f"{BASE}/connections/pets",
            {"settings": {"server_url": pets.url + "/"}},
            format="json",
        )
        assert same_host.status_code == 200, same_host.content
        confirmed = acme_api.patch(
            f"{BASE}/connections/pets",
            {"settings": {"server_url": other}, "confirm_credential_move": True},
            format="json",
        )
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["settings"]["server_url"] == other
    with tenant_context(acme):
        event = AuditEvent.objects.filter(event_type="connection.changed").latest("id")
        assert event.extra["host_change_confirmed"] == ["server_url"]


def test_without_stored_credentials_the_server_can_move(acme_api, pets):
    moved = acme_api.patch(
        f"{BASE}/connections/pets",
        {"settings": {"server_url": "http://127.0.0.1:9/v2"}},
        format="json",
    )
    assert moved.status_code == 200, moved.content
