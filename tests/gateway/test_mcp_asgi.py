"""The ASGI app daphne serves: the dashboard's static files come from it too."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import BASE_DIR


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("vmcp.css", "text/css"),
        ("vmcp.js", "text/javascript"),
        ("vendor/htmx.min.js", "text/javascript"),
    ],
)
def test_static_files_are_served_by_daphne(live_server_url, path, content_type):
    response = httpx.get(f"{live_server_url}/static/{path}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.content == (BASE_DIR / "static" / path).read_bytes()


def test_unknown_static_file_is_404_and_other_paths_still_reach_the_app(live_server_url):
    assert httpx.get(f"{live_server_url}/static/nope.css", timeout=10).status_code == 404
    assert httpx.get(f"{live_server_url}/healthz", timeout=10).status_code == 200
