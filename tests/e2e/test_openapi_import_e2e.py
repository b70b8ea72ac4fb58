"""Bring your own API, in Chromium: a tenant admin uploads the Petstore document, sees its
operations and what was skipped and why, and ticks two of them into a new virtual server."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.connectors.openapi.support import PETSTORE, document

pytestmark = pytest.mark.e2e

# Never called: importing only compiles the document; loopback is allowed by the test settings.
SERVER_URL = "http://127.0.0.1:9/v2"
TICKED = ["pets_get_pet_by_id", "pets_find_pets_by_status"]


def test_an_uploaded_document_becomes_tools_and_two_of_them_a_server(
    e2e_server, live_tenant, browser_page, shoot
):
    page, slug = browser_page, live_tenant.slug
    dashboard = f"{e2e_server}/t/{slug}/dashboard"
    page.goto(f"{e2e_server}/login/?next=/t/{slug}/dashboard/")
    page.fill("#id_username", f"owner@{slug}.test")  # the tenant's owner: an admin
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{dashboard}/")
    with tempfile.TemporaryDirectory() as tmp:
        upload = Path(tmp) / "petstore.json"
        upload.write_text(json.dumps(document(PETSTORE)))
        page.goto(f"{dashboard}/connections/import-openapi/")
        page.fill("#id_name", "pets")
        page.select_option("#id_auth_type", "none")
        page.set_input_files("#id_document_file", str(upload))
        page.fill("#id_server_url", SERVER_URL)
        page.click("#import-openapi")
        page.wait_for_url(f"{dashboard}/connections/pets/operations/")

    assert page.locator(".tool-check").count() == 19
    skipped = page.locator("#skipped li")
    assert skipped.count() >= 1
    upload_image = skipped.filter(has_text="POST /pet/{petId}/uploadImage")
    assert "multipart/form-data" in upload_image.locator(".skip-reason").inner_text()
    shoot(page, "30-openapi-operations")

    for name in TICKED:
        page.check(f"#tool-pets-{name}")
    page.fill("#id_server_name", "pet-reader")
    page.click("#create-server")
    page.wait_for_url(re.compile(rf"{re.escape(dashboard)}/servers/[0-9a-f-]{{36}}/$"))
    tools = page.locator('section.card:has(h2:has-text("Tools the agent sees")) li .mono')
    tools.first.wait_for()
    assert sorted(tools.all_inner_texts()) == sorted(TICKED)
