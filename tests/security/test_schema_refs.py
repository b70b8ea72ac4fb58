"""A tool's input schema comes from an upstream server: its "$ref"s are never fetched.

jsonschema's default retrieval urlopen()s any URL a schema names (file://, the metadata service,
a slow host), outside the egress guard, and quotes what it read in the error the agent sees.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from gateway.execution.validation import arguments_validate
from vmcp_platform.errors import ValidationFailed


@pytest.fixture
def listener():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = b'{"enum": ["SECRET-FROM-LISTENER"]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


def _schema(ref: str) -> dict:
    return {"type": "object", "properties": {"a": {"$ref": ref}}}


def test_a_remote_ref_is_never_fetched(listener):
    url, hits = listener
    # Validation passes the value through (the upstream validates its own input) ...
    arguments_validate(
        cache_key="t:remote", tool_name="t", schema=_schema(f"{url}/s.json"), arguments={"a": "x"}
    )
    # ... and nothing was requested.
    assert hits == []


def test_a_file_ref_is_never_read_into_an_error(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"enum": ["SECRET-FROM-FILE"]}')
    try:
        arguments_validate(
            cache_key="t:file",
            tool_name="t",
            schema=_schema(secret.as_uri()),
            arguments={"a": "x"},
        )
    except ValidationFailed as exc:  # the bug: the file's content reaches the agent
        pytest.fail(f"the schema's file:// $ref was read: {exc.message}")


def test_a_local_ref_still_validates():
    schema = {
        "type": "object",
        "$defs": {"colour": {"enum": ["red", "green"]}},
        "properties": {"a": {"$ref": "#/$defs/colour"}},
    }
    with pytest.raises(ValidationFailed):
        arguments_validate(cache_key="t:local", tool_name="t", schema=schema, arguments={"a": "x"})
