"""The dashboard's import page: import a document (upload or URL), see the operations and what
was skipped and why, tick tools into a new virtual server; re-import after seeing the diff."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django_tenants.utils import tenant_context

from accounts.services.accounts import account_get_or_create, account_store_api_key
from configs.models import Connection, McpConfig
from tests.dashboard.conftest import client_for

from .fake_api import FakeApi
from .support import PETSTORE, document
from .test_connection_api import LOOPBACK

BASE = "/t/acme/dashboard"


def _upload(doc: dict, name: str = "petstore.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, json.dumps(doc).encode(), content_type="application/json")


@pytest.fixture
def api():  # noqa: ANN201
    with LOOPBACK, FakeApi(PETSTORE) as fake:
        yield fake


@pytest.fixture
def imported(acme, api):  # noqa: ANN001, ANN201
    client = client_for("alice")
    response = client.post(
        f"{BASE}/connections/import-openapi/",
        {
            "name": "pets",
            "auth_type": "api_key",
            "document_file": _upload(document(PETSTORE)),
            "server_url": api.url,
            "security_scheme": "api_key",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == f"{BASE}/connections/pets/operations/"
    return client


def test_import_shows_the_operations_and_what_was_skipped_and_why(imported):
    page = imported.get(f"{BASE}/connections/pets/operations/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Imported 19 operations as tools." in html
    assert len(re.findall(r'class="tool-check"', html)) == 19
    assert "GET /pet/{petId}" in html and "pets_get_pet_by_id" in html
    skipped = html[html.index('id="skipped"') :]
    assert "POST /pet/{petId}/uploadImage" in skipped
    assert "multipart/form-data" in skipped and "only JSON and forms are supported" in skipped
    assert 'id="estimate"' in html  # the builder's live estimate
    # The hooks: the connections list offers the import, an openapi connection its operations.
    assert 'id="import-openapi-link"' in imported.get(f"{BASE}/connections/").content.decode()
    detail = imported.get(f"{BASE}/connections/pets/").content.decode()
    assert 'id="openapi-operations-link"' in detail


def test_ticked_tools_become_a_virtual_server(acme, imported):
    estimate = imported.post(
        f"{BASE}/servers/estimate/", {"tool:pets": ["pets_get_pet_by_id", "pets_add_pet"]}
    )
    assert 'id="est-tools">2<' in estimate.content.decode()
    created = imported.post(
        f"{BASE}/connections/pets/operations/",
        {
            "server_name": "pet-reader",
            "tool:pets": ["pets_get_pet_by_id", "pets_find_pets_by_status"],
        },
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    with tenant_context(acme):
        mapping = McpConfig.objects.get(name="pet-reader").mappings.get()
        assert set(mapping.tools) == {"pets_get_pet_by_id", "pets_find_pets_by_status"}
    nothing = imported.post(f"{BASE}/connections/pets/operations/", {"server_name": "empty"})
    assert nothing.status_code == 400 and "Tick at least one tool" in nothing.content.decode()


def test_a_hostile_document_is_an_error_on_the_form_and_creates_nothing(acme, api):
    doc = {**document(PETSTORE), "servers": [{"url": "http://10.0.0.5/api"}]}
    response = client_for("alice").post(
        f"{BASE}/connections/import-openapi/",
        {"name": "pets", "auth_type": "none", "document_file": _upload(doc)},
    )
    assert response.status_code == 400
    assert "10.0.0.5" in response.content.decode()
    neither = client_for("alice").post(
        f"{BASE}/connections/import-openapi/", {"name": "pets", "auth_type": "none"}
    )
    assert neither.status_code == 400 and "Upload a document" in neither.content.decode()
    with tenant_context(acme):
        assert not Connection.objects.exists()


def test_an_auditor_reads_the_operations_but_cannot_import_or_reimport(imported):
    audrey = client_for("audrey")
    assert audrey.get(f"{BASE}/connections/import-openapi/").status_code == 404
    assert audrey.get(f"{BASE}/connections/pets/reimport/").status_code == 404
    page = audrey.get(f"{BASE}/connections/pets/operations/")
    assert page.status_code == 200 and 'class="tool-check"' not in page.content.decode()
    assert audrey.post(f"{BASE}/connections/pets/operations/", {}).status_code == 404


def _changed() -> dict:
    doc = document(PETSTORE)
    del doc["paths"]["/pet/{petId}"]["delete"]
    doc["paths"]["/pet/{petId}"]["get"]["summary"] = "Find one pet"
    return doc


def test_reimport_previews_the_diff_and_applies_only_on_apply(acme, imported):
    imported.post(
        f"{BASE}/connections/pets/operations/",
        {"server_name": "keeper", "tool:pets": ["pets_get_pet_by_id", "pets_delete_pet"]},
    )
    preview = imported.post(
        f"{BASE}/connections/pets/reimport/", {"document_file": _upload(_changed())}
    )
    assert preview.status_code == 200
    html = preview.content.decode()
    removed = html[html.index('id="tools-removed"') : html.index('id="tools-changed"')]
    assert "pets_delete_pet" in removed
    changed = html[html.index('id="tools-changed"') : html.index('id="servers-affected"')]
    assert "pets_get_pet_by_id" in changed and "description" in changed
    servers = html[html.index('id="servers-affected"') :]
    assert "keeper" in servers and "stops exposing" in servers
    with tenant_context(acme):
        assert any(
            t["name"] == "pets_delete_pet" for t in Connection.objects.get(name="pets").tools
        )
    payload = re.search(r'name="payload" value="([^"]+)"', html)[1]
    tampered = imported.post(
        f"{BASE}/connections/pets/reimport/apply/", {"payload": payload[:-4] + "AAAA"}
    )
    assert tampered.status_code == 302 and tampered["Location"].endswith("/reimport/")
    with tenant_context(acme):
        assert len(Connection.objects.get(name="pets").tools) == 19
    applied = imported.post(f"{BASE}/connections/pets/reimport/apply/", {"payload": payload})
    assert applied.status_code == 302 and applied["Location"].endswith("/operations/")
    with tenant_context(acme):
        names = {t["name"] for t in Connection.objects.get(name="pets").tools}
        assert "pets_delete_pet" not in names and len(names) == 18
        mapping = McpConfig.objects.get(name="keeper").mappings.get()
        assert mapping.tools == ["pets_get_pet_by_id", "pets_delete_pet"]  # kept
    page = imported.get(f"{BASE}/connections/pets/operations/").content.decode()
    assert "Re-imported: 0 added, 1 removed, 1 changed." in page


def test_a_reimport_moving_stored_keys_needs_the_confirmation_box(acme, imported):
    with tenant_context(acme):
        account = account_get_or_create(
            connection=Connection.objects.get(name="pets"), identifier="al", actor="t"
        )
        account_store_api_key(account=account, api_key="key-of-al", actor="t")
    other = "http://127.0.0.2:9/v2"
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1", "127.0.0.2"]):
        preview = imported.post(
            f"{BASE}/connections/pets/reimport/",
            {"document_file": _upload(document(PETSTORE)), "server_url": other},
        )
        html = preview.content.decode()
        assert 'id="credential-move"' in html and "127.0.0.2:9" in html
        payload = re.search(r'name="payload" value="([^"]+)"', html)[1]
        refused = imported.post(f"{BASE}/connections/pets/reimport/apply/", {"payload": payload})
        assert refused.status_code == 409
        assert "confirm_credential_move" in refused.content.decode()
        with tenant_context(acme):
            assert Connection.objects.get(name="pets").settings["server_url"] != other
        confirmed = imported.post(
            f"{BASE}/connections/pets/reimport/apply/",
            {"payload": payload, "confirm_credential_move": "yes"},
        )
    assert confirmed.status_code == 302
    with tenant_context(acme):
        assert Connection.objects.get(name="pets").settings["server_url"] == other


def test_a_preview_is_void_once_the_connection_changed(acme, imported):
    """Another re-import in between would make the diff shown wrong: preview again."""
    first = imported.post(
        f"{BASE}/connections/pets/reimport/", {"document_file": _upload(_changed())}
    ).content.decode()
    payload = re.search(r'name="payload" value="([^"]+)"', first)[1]
    other = document(PETSTORE)
    other["info"]["version"] = "9"
    second = imported.post(
        f"{BASE}/connections/pets/reimport/", {"document_file": _upload(other)}
    ).content.decode()
    applied_other = re.search(r'name="payload" value="([^"]+)"', second)[1]
    assert (
        imported.post(
            f"{BASE}/connections/pets/reimport/apply/", {"payload": applied_other}
        ).status_code
        == 302
    )
    stale = imported.post(f"{BASE}/connections/pets/reimport/apply/", {"payload": payload})
    assert stale.status_code == 302 and stale["Location"].endswith("/reimport/")
    with tenant_context(acme):
        connection = Connection.objects.get(name="pets")
        assert connection.settings["document_info"]["version"] == "9"
        assert len(connection.tools) == 19


def test_the_import_page_shows_the_redirect_uri_to_register(acme):
    page = client_for("alice").get(f"{BASE}/connections/import-openapi/").content.decode()
    assert 'value="http://127.0.0.1:8000/oauth/callback"' in page


def test_editing_the_server_url_with_stored_keys_asks_for_confirmation(acme, imported):
    detail = imported.get(f"{BASE}/connections/pets/").content.decode()
    assert f'href="{BASE}/connections/pets/openapi-settings/"' in detail
    with tenant_context(acme):
        account = account_get_or_create(
            connection=Connection.objects.get(name="pets"), identifier="al", actor="t"
        )
        account_store_api_key(account=account, api_key="key-of-al", actor="t")
    url = f"{BASE}/connections/pets/openapi-settings/"
    other = "http://127.0.0.2:9/v2"
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["127.0.0.1", "127.0.0.2"]):
        refused = imported.post(url, {"server_url": other})
        html = refused.content.decode()
        assert refused.status_code == 400
        assert "were issued for" in html and 'id="credential-move"' in html
        with tenant_context(acme):
            assert Connection.objects.get(name="pets").settings["server_url"] != other
        saved = imported.post(url, {"server_url": other, "confirm_credential_move": "on"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    with tenant_context(acme):
        assert Connection.objects.get(name="pets").settings["server_url"] == other
    assert client_for("audrey").get(url).status_code == 404


class _DocumentServer:
    """The document on loopback, as a URL to import from; ``doc`` may be swapped between
    fetches (what Apply must not fetch again)."""

    def __init__(self, doc: dict) -> None:
        self.doc, self.fetches = doc, 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                served.fetches += 1
                data = json.dumps(served.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/openapi.json"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_a_url_reimport_keeps_the_document_url_and_applies_what_was_previewed(acme, imported, api):
    served = _DocumentServer(_changed())
    try:
        preview = imported.post(
            f"{BASE}/connections/pets/reimport/",
            {"document_url": served.url, "server_url": api.url},
        )
        assert preview.status_code == 200, preview.content.decode()[:2000]
        payload = re.search(r'name="payload" value="([^"]+)"', preview.content.decode())[1]
        served.doc = document(PETSTORE)  # changed after the preview: not what was shown
        applied = imported.post(f"{BASE}/connections/pets/reimport/apply/", {"payload": payload})
    finally:
        served.close()
    assert applied.status_code == 302 and applied["Location"].endswith("/operations/")
    assert served.fetches == 1  # the preview's fetch only
    with tenant_context(acme):
        connection = Connection.objects.get(name="pets")
        assert connection.settings["document_url"] == served.url
        assert len(connection.tools) == 18  # the previewed document, one operation fewer


def test_a_url_import_keeps_the_document_url(acme, api):
    served = _DocumentServer(document(PETSTORE))
    try:
        response = client_for("alice").post(
            f"{BASE}/connections/import-openapi/",
            {
                "name": "pets",
                "auth_type": "none",
                "document_url": served.url,
                "server_url": api.url,
            },
        )
    finally:
        served.close()
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(acme):
        assert Connection.objects.get(name="pets").settings["document_url"] == served.url
