"""A local API on loopback that serves one OpenAPI document's operations: every request is
validated against the document with openapi-core, and the credential that arrived is recorded.

Plain ``http.server``, not WSGI: WSGI servers drop or respell a header named ``api_key``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from .support import validate


class FakeApi:
    def __init__(self, path: Path, prefix: str = "/v2") -> None:
        self.path = path
        self.seen: list[dict[str, Any]] = []
        self.errors: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                content = self.rfile.read(length) if length else b""
                status, body = fake.answer(self.command, self.path, self.headers.items(), content)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}{prefix}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, target: str, headers: Any, content: bytes) -> tuple[int, Any]:
        base = self.url.split("/v2")[0]
        sent = httpx.Request(method, base + target, headers=list(headers), content=content)
        try:
            validate(self.path, sent, self.url)
        except Exception as exc:  # noqa: BLE001 - any validation failure is the test's concern
            self.errors.append(f"{method} {target}: {exc!r}")
            return 400, {"message": "invalid request"}
        path = urlsplit(target).path
        self.seen.append(
            {
                "method": method,
                "path": path,
                "key": sent.headers.get("api_key"),
                "authorization": sent.headers.get("authorization"),
            }
        )
        if path.endswith("/pet/404"):
            return 404, {"message": "Pet not found"}
        if path.endswith("/findByStatus"):
            statuses = parse_qs(urlsplit(target).query).get("status", [])
            return 200, [{"id": 1, "name": "a", "photoUrls": [], "status": s} for s in statuses]
        if "/pet/" in path and method == "GET":
            return 200, {"id": int(path.rsplit("/", 1)[1]), "name": "rex", "photoUrls": []}
        return 200, json.loads(content or b"{}")
