"""Shared helpers: the real public documents (npm packages) and request validation with
openapi-core against the same document the tools were compiled from."""

from __future__ import annotations

import functools
import json
import subprocess
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

HERE = Path(__file__).parent
MODULES = HERE / "node_modules"
GITHUB = MODULES / "@octokit/openapi/generated/api.github.com.json"
PETSTORE = MODULES / "@readme/oas-examples/3.0/json/petstore.json"
PETSTORE_31 = MODULES / "@readme/oas-examples/3.1/json/petstore.json"


def ensure_documents() -> None:
    if not GITHUB.exists() or not PETSTORE.exists():
        subprocess.run(["bash", str(HERE / "install.sh")], check=True, timeout=600)


@functools.cache
def load(path: Path) -> dict[str, Any]:
    ensure_documents()
    return json.loads(path.read_text())


def document(path: Path) -> dict[str, Any]:
    """A fresh copy (tests may mutate it)."""
    return json.loads(json.dumps(load(path)))


@functools.cache
def validator(path: Path, server: str | None = None) -> OpenAPI:
    """openapi-core over the document; ``server`` replaces its servers (a loopback fake)."""
    spec = document(path)
    if server is not None:
        spec["servers"] = [{"url": server}]
    return OpenAPI.from_dict(spec)


class HttpxOpenAPIRequest:
    """openapi-core's request protocol over the ``httpx.Request`` the connector sends.

    Not via WSGI: a WSGI environ turns a header named ``api_key`` into ``Api-Key``.
    """

    def __init__(self, request: httpx.Request) -> None:
        url = request.url
        self.host_url = f"{url.scheme}://{url.netloc.decode()}"
        self.path = url.raw_path.split(b"?", 1)[0].decode()
        self.full_url_pattern = self.host_url + self.path
        self.method = request.method.lower()
        cookies = SimpleCookie()
        cookies.load(request.headers.get("cookie", ""))
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict({k: v.value for k, v in cookies.items()}),
        )
        self.content_type = request.headers.get("content-type", "")
        self.body = request.content or None


def validate(path: Path, request: httpx.Request, server: str | None = None) -> None:
    """Raise unless the document accepts ``request``."""
    validator(path, server).validate_request(HttpxOpenAPIRequest(request))
