"""Every HTTP client and every request function in the code base lives in ``vmcp_platform/egress``.

The SSRF guard only protects the requests that go through it, so this test reads every module of
the apps (not tests/, bench/, conformance/) with ``ast`` and fails on any place outside the
egress package that creates an HTTP client, a transport or a raw connection, or calls a
module-level request function (``httpx.post``, ``httpx2.get``, ``requests.*``, ``urlopen``,
``aiohttp.ClientSession``, ``socket.create_connection``, ...), unless it is on ``ALLOWED`` below
with its reason. A new bare ``httpx.post`` fails the suite.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXCLUDED_DIRS = {".venv", "tests", "bench", "conformance", "var", "node_modules", ".git"}
EGRESS = Path("vmcp_platform/egress")

# (module path, what is called) -> why it may bypass the egress clients.
ALLOWED: dict[tuple[str, str], str] = {
    ("vmcp_platform/launcher.py", "httpx.get"): (
        "the launcher's health probe of the web process it just started on loopback; "
        "the URL is built from its own --host/--port, never from tenant data"
    ),
    # The REST API's client library runs in the tenant's backend, not in vmcp: it talks to the
    # URL its user gives it (vmcp itself), so vmcp's SSRF guard has nothing to protect there.
    ("clients/python/src/vmcp_client/client.py", "httpx.Client"): (
        "the Python client library for vmcp's own REST API, run by the tenant's backend"
    ),
    ("clients/python/src/vmcp_client/aio.py", "httpx.AsyncClient"): (
        "the Python client library for vmcp's own REST API, run by the tenant's backend"
    ),
}

# Modules that can open a network connection, and which of their names do.
_ANY = "*"
NETWORK_NAMES: dict[str, set[str] | str] = {
    **{
        lib: {
            "get",
            "post",
            "put",
            "patch",
            "delete",
            "head",
            "options",
            "request",
            "stream",
            "Client",
            "AsyncClient",
            "HTTPTransport",
            "AsyncHTTPTransport",
        }
        for lib in ("httpx", "httpx2")
    },
    **{lib: _ANY for lib in ("httpcore", "httpcore2", "requests", "aiohttp", "urllib3")},
    "urllib.request": _ANY,
    "http.client": _ANY,
    "socket": {"create_connection", "socket", "getaddrinfo", "socketpair", "fromfd"},
    "ssl": {"wrap_socket", "create_connection"},
    "asyncio": {"open_connection", "create_connection"},
}


def _network_module(name: str) -> str | None:
    for module in NETWORK_NAMES:
        if name == module or name.startswith(module + "."):
            return module
    return None


def _flags(module: str, attribute: str) -> bool:
    names = NETWORK_NAMES[module]
    return names == _ANY or attribute in names


class _Finder(ast.NodeVisitor):
    """Collects ``module.name`` for every call that reaches the network."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}  # local name -> network module
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        self.calls: list[tuple[int, str]] = []

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        for alias in node.names:
            module = _network_module(alias.name)
            if module is not None:
                local = alias.asname or alias.name.split(".")[0]
                self.aliases[local] = module if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        if node.level:  # ``from .requests import …`` is one of our modules, not the library
            return
        base = node.module or ""
        for alias in node.names:
            local = alias.asname or alias.name
            full = f"{base}.{alias.name}"
            if _network_module(full) == full:  # ``from urllib import request``
                self.aliases[local] = full
                continue
            module = _network_module(base)
            if module is not None and _flags(module, alias.name):
                self.imported[local] = (module, alias.name)

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        dotted = _dotted(node.func)
        if dotted:
            head, _, rest = dotted.partition(".")
            if head in self.imported and not rest:
                module, name = self.imported[head]
                self.calls.append((node.lineno, f"{module}.{name}"))
            elif head in self.aliases and rest:
                prefix = self.aliases[head]
                full = f"{prefix}.{rest}"
                module = _network_module(full)
                attribute = full[len(module) + 1 :] if module else ""
                if module and attribute and _flags(module, attribute.split(".")[0]):
                    self.calls.append((node.lineno, full))
        self.generic_visit(node)


def _dotted(node: ast.AST) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def network_calls(source: str) -> list[tuple[int, str]]:
    finder = _Finder()
    finder.visit(ast.parse(source))
    return finder.calls


def _app_modules() -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for path in ROOT.rglob("*.py")
        if not EXCLUDED_DIRS & set(path.relative_to(ROOT).parts)
    )


def _inventory() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for path in _app_modules():
        if path.is_relative_to(EGRESS):
            continue
        for line, call in network_calls((ROOT / path).read_text()):
            found.setdefault((path.as_posix(), call), []).append(line)
    return found


def test_no_request_leaves_vmcp_outside_the_egress_package():
    stray = {key: lines for key, lines in _inventory().items() if key not in ALLOWED}
    assert stray == {}, (
        "Outbound HTTP outside vmcp_platform/egress (use its clients, or add an entry with a "
        f"reason to ALLOWED): {stray}"
    )


def test_every_allow_list_entry_is_still_needed():
    assert set(ALLOWED) <= set(_inventory()), "drop the stale ALLOWED entries"


def test_the_egress_package_is_where_the_clients_are():
    inside = [
        call
        for path in _app_modules()
        if path.is_relative_to(EGRESS)
        for _, call in network_calls((ROOT / path).read_text())
    ]
    assert {"httpx.AsyncClient", "httpx.Client", "httpx2.AsyncClient"} <= set(inside)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import httpx\nhttpx.post('http://x')", ["httpx.post"]),
        ("import httpx as h\nh.Client()", ["httpx.Client"]),
        ("from httpx import AsyncClient\nAsyncClient()", ["httpx.AsyncClient"]),
        ("from httpx import request as r\nr('GET', 'u')", ["httpx.request"]),
        ("import httpx2\nhttpx2.AsyncClient()", ["httpx2.AsyncClient"]),
        ("import httpx2\nhttpx2.AsyncHTTPTransport()", ["httpx2.AsyncHTTPTransport"]),
        ("import requests\nrequests.get('u')", ["requests.get"]),
        ("import requests\nrequests.Session().get('u')", ["requests.Session"]),
        ("import urllib.request\nurllib.request.urlopen('u')", ["urllib.request.urlopen"]),
        ("from urllib.request import urlopen\nurlopen('u')", ["urllib.request.urlopen"]),
        ("from urllib import request\nrequest.urlopen('u')", ["urllib.request.urlopen"]),
        ("import aiohttp\naiohttp.ClientSession()", ["aiohttp.ClientSession"]),
        ("import socket\nsocket.create_connection(('h', 1))", ["socket.create_connection"]),
        ("import http.client\nhttp.client.HTTPSConnection('h')", ["http.client.HTTPSConnection"]),
        ("import asyncio\nasyncio.open_connection('h', 1)", ["asyncio.open_connection"]),
        ("import httpx\nhttpx.Response(200)", []),
        ("from .requests import build_request\nbuild_request()", []),
        ("import httpx\nhttpx.Timeout(3)", []),
        ("from urllib.parse import quote\nquote('x')", []),
        ("import asyncio\nasyncio.sleep(1)", []),
    ],
)
def test_the_inventory_recognises_each_way_of_making_a_request(source, expected):
    assert [call for _, call in network_calls(source)] == expected
