"""Real public documents compile into the tools they describe: count, names, schemas."""

from __future__ import annotations

import time

from connectors.openapi import PLAN_KEY
from connectors.openapi.compiler import compile_document
from connectors.openapi.loader import HTTP_METHODS, validate_document

from .support import GITHUB, PETSTORE, PETSTORE_31, document


def _operations(doc: dict) -> int:
    return sum(1 for item in doc["paths"].values() for m in item if m in HTTP_METHODS)


def test_github_description_compiles_quickly_into_one_tool_per_operation():
    doc = document(GITHUB)
    start = time.monotonic()
    version = validate_document(doc)
    compiled = compile_document(doc, version=version, prefix="github")
    assert time.monotonic() - start < 10
    assert len(compiled.tools) + len(compiled.skipped) == _operations(doc) > 1000
    names = [t["name"] for t in compiled.tools]
    assert len(names) == len(set(names))
    assert all(len(n) <= 64 and n.replace("_", "").isalnum() and n == n.lower() for n in names)
    tools = {t["name"]: t for t in compiled.tools}
    # operationId "issues/create" → github_issues_create, POST /repos/{owner}/{repo}/issues.
    create = tools["github_issues_create"]
    assert create[PLAN_KEY]["method"] == "POST"
    assert create[PLAN_KEY]["path"] == "/repos/{owner}/{repo}/issues"
    schema = create["inputSchema"]
    assert {"owner", "repo", "title"} <= set(schema["required"])
    source = doc["paths"]["/repos/{owner}/{repo}/issues"]["post"]["requestBody"]
    body = source["content"]["application/json"]["schema"]["properties"]
    assert schema["properties"]["title"]["oneOf"] == body["title"]["oneOf"]
    # 3.0 nullable → a JSON Schema null type.
    assert schema["properties"]["assignee"]["type"] == ["string", "null"]
    assert create["annotations"]["readOnlyHint"] is False
    get = tools["github_repos_get"]
    assert get["annotations"]["readOnlyHint"] is True
    assert get["outputSchema"]["type"] == "object"
    assert tools["github_repos_delete"]["annotations"]["destructiveHint"] is True
    # Query parameters with their defaults and bounds from the document's components.
    per_page = tools["github_issues_list_for_repo"]["inputSchema"]["properties"]["per_page"]
    assert per_page["type"] == "integer" and per_page["default"] == 30


def test_petstore_30_and_31_tools_and_the_skipped_upload():
    for path in (PETSTORE, PETSTORE_31):
        doc = document(path)
        compiled = compile_document(doc, version=validate_document(doc), prefix="pets")
        names = {t["name"] for t in compiled.tools}
        assert {"pets_add_pet", "pets_get_pet_by_id", "pets_find_pets_by_status"} <= names
        assert len(names) + len(compiled.skipped) == _operations(doc)
        [skipped] = compiled.skipped
        assert skipped["operation_id"] == "uploadFile"
        assert "only JSON and forms are supported" in skipped["reason"]
        tools = {t["name"]: t for t in compiled.tools}
        by_status = tools["pets_find_pets_by_status"]["inputSchema"]["properties"]["status"]
        assert by_status["items"]["enum"] == ["available", "pending", "sold"]
        add = tools["pets_add_pet"]["inputSchema"]
        assert set(add["required"]) == {"name", "photoUrls"}
        assert add["properties"]["category"]["properties"]["id"]["format"] == "int64"
        # An array result is wrapped: MCP structured content is an object.
        out = tools["pets_find_pets_by_status"]["outputSchema"]
        assert out["properties"]["result"]["type"] == "array"
        assert tools["pets_update_pet"]["annotations"]["idempotentHint"] is True
