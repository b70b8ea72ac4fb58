"""What a refusal says: enough to fix the URL, never the internal address a name resolved to
(a tenant admin could otherwise map the operator's internal DNS through save errors)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from vmcp_platform.egress import UnsafeUrl, check_url


def test_a_name_resolving_inside_is_refused_without_naming_the_address():
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=[]), pytest.raises(UnsafeUrl) as refused:
        check_url("http://localhost:8080/", field="server_url")
    assert "localhost" in refused.value.message and "server_url" in refused.value.message
    assert "127.0.0.1" not in refused.value.message and "::1" not in refused.value.message
    assert "127.0.0.1" not in str(refused.value.details)


@pytest.mark.parametrize(
    "path", ["/t/acme/mcp/", "/t/acme/mcp", "/t/acme/mcp/x/extra", "/t/acme/mcp//", "/t/x/mcp/a/b"]
)
def test_every_path_under_the_mcp_prefix_answers_json(live_server_url, path):
    import httpx

    for method in ("GET", "POST"):
        response = httpx.request(method, live_server_url + path, content=b"{}", timeout=10)
        assert response.status_code == 404, (method, path)
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["message"] == "Not found: no such MCP server"


def test_an_openapi_document_cannot_hand_transport_headers_to_the_agent():
    """A header parameter named Host, Transfer-Encoding or Cookie would let an agent's argument
    reach another virtual host or smuggle a request: such parameters never become arguments."""
    from connectors.openapi.compiler import compile_document

    parameters = [
        {"name": name, "in": "header", "schema": {"type": "string"}}
        for name in ("Host", "Transfer-Encoding", "Cookie", "Accept-Encoding", "X-Trace")
    ]
    document = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {
                "get": {
                    "operationId": "listThings",
                    "parameters": parameters,
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    [tool] = compile_document(document, version="3.0", prefix="t").tools
    assert sorted(tool["inputSchema"].get("properties", {})) == ["X-Trace"]


def test_an_openapi_api_key_cannot_be_placed_in_a_transport_header():
    from configs.services.connections.openapi import _validate_auth
    from vmcp_platform.errors import ValidationFailed

    for name in ("Host", "transfer-encoding", "Cookie"):
        with pytest.raises(ValidationFailed):
            _validate_auth({"kind": "api_key", "in": "header", "name": name})
    assert _validate_auth({"kind": "api_key", "in": "header", "name": "X-Api-Key"})["name"] == (
        "X-Api-Key"
    )
