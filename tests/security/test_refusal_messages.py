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
