"""Property: whatever a tool's input schema accepts, the request builder turns into a request
the document itself (openapi-core) accepts — for every Petstore operation."""

from __future__ import annotations

from datetime import UTC

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from connectors.openapi import PLAN_KEY
from connectors.openapi.compiler import compile_document
from connectors.openapi.connector import credential_headers
from connectors.openapi.loader import validate_document
from connectors.openapi.requests import build_request

from .support import PETSTORE, document

SERVER = "http://petstore.swagger.io/v2"


def _tools() -> list[dict]:
    doc = document(PETSTORE)
    return compile_document(doc, version=validate_document(doc), prefix="pets").tools


def values(schema: dict) -> st.SearchStrategy:
    """Values for the JSON Schema subset the compiler emits for Petstore (hypothesis-jsonschema
    does not run on this Hypothesis version); the real validator filters what comes out."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema.get("minimum", -(2**40)), schema.get("maximum", 2**40)
        return st.integers(min_value=low, max_value=high)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    if kind == "string" and schema.get("format") == "date-time":
        return st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=20)
    if kind == "array":
        return st.lists(values(schema.get("items", {})), max_size=4)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: values(v) for k, v in props.items() if k in required},
            optional={k: values(v) for k, v in props.items() if k not in required},
        )
    return st.none()


def _arguments(tool: dict) -> st.SearchStrategy:
    # Formats asserted, as the document's validator does (the gateway leaves them to the API).
    check = Draft202012Validator(
        tool["inputSchema"], format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return values(tool["inputSchema"]).filter(check.is_valid)


TOOLS = _tools()
CALLS = st.sampled_from(TOOLS).flatmap(lambda tool: st.tuples(st.just(tool), _arguments(tool)))


@pytest.mark.filterwarnings("ignore::UserWarning")  # openapi-core: the oauth2 scheme
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(CALLS)
def test_accepted_arguments_build_a_request_the_document_validates(call):
    from .support import validate

    tool, arguments = call
    built = build_request(tool[PLAN_KEY], arguments)
    headers, query = credential_headers({"kind": "api_key", "in": "header", "name": "api_key"}, "k")
    request = httpx.Request(
        built.method,
        SERVER + built.path,
        params=[*built.query, *query] or None,
        # Petstore's other scheme is OAuth2; openapi-core accepts any bearer for it.
        headers={**built.headers, **headers, "Authorization": "Bearer t"},
        content=built.content,
    )
    validate(PETSTORE, request)


def test_path_values_are_encoded_so_they_cannot_change_the_route():
    tool = next(t for t in TOOLS if t["name"] == "pets_get_user_by_name")
    built = build_request(tool[PLAN_KEY], {"username": "../admin?x=1#"})
    assert built.path == "/user/..%2Fadmin%3Fx%3D1%23"
