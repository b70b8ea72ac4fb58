"""Run the official MCP conformance suite against a virtual server that proxies our upstream.

    python conformance/run.py                       # both revisions, with the baselines
    python conformance/run.py --revision 2026-07-28 --scenario tools-list

Starts (embedded unless DATABASE_URL/REDIS_URL are set) PostgreSQL and Redis, migrates,
starts ``conformance/upstream_server.py`` and daphne on free loopback ports, provisions a
tenant with an ``mcp`` connection to the upstream, a config exposing all its tools and a
session token, then runs ``shared/tools/mcp-conformance`` for each revision with
``conformance/baseline-<revision>.yml``. Exits non-zero on any unexpected failure (or a stale
baseline entry). The tenant is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
REVISIONS = ("2025-11-25", "2026-07-28")
SLUG = "conformance"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout}s")


def _provision(upstream_url: str) -> tuple[str, str]:
    import django

    django.setup()
    from django.db import connection
    from django_tenants.utils import tenant_context

    from configs.models import Connection
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create
    from configs.services.tokens import session_token_mint
    from tenants.models import Tenant
    from tenants.services import tenant_create, tenant_delete

    existing = Tenant.objects.filter(slug=SLUG).first()
    if existing:
        tenant_delete(tenant=existing)
    tenant = tenant_create(slug=SLUG, name="Conformance", owner_email="owner@conformance.test")
    with tenant_context(tenant):
        upstream = connection_create(
            name="upstream",
            connector="mcp",
            auth_type="none",
            settings={"server_url": upstream_url},
            secrets=None,
            actor="conformance",
        )
        tools = connection_sync_tools(connection=upstream, actor="conformance")
        if not tools:
            error = Connection.objects.get(pk=upstream.pk).last_error
            raise SystemExit(f"the upstream's tools could not be synced: {error}")
        config = mcp_config_create(
            name="conformance",
            description="Every tool of the conformance upstream server.",
            mappings=[{"connection_name": "upstream", "tools": ["*"]}],
            actor="conformance",
        )
        minted = session_token_mint(
            config=config, identifier="conformance", expiry_seconds=86400, actor="conformance"
        )
    connection.set_schema_to_public()
    return str(config.pk), minted.secret


def _cleanup() -> None:
    from tenants.models import Tenant
    from tenants.services import tenant_delete

    tenant = Tenant.objects.filter(slug=SLUG).first()
    if tenant:
        tenant_delete(tenant=tenant)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revision", choices=[*REVISIONS, "both"], default="both")
    parser.add_argument("--scenario", help="run one scenario (no baseline)")
    parser.add_argument("--tool", default=str(BASE_DIR.parent / "shared/tools/mcp-conformance"))
    args = parser.parse_args(argv)

    sys.path.insert(0, str(BASE_DIR))
    os.chdir(BASE_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")
    # The upstream runs on loopback: let the SSRF guard allow it for this run only.
    os.environ["VMCP_SSRF_ALLOWED_HOSTS"] = "127.0.0.1"
    from vmcp_platform.embedded import embedded_services

    processes: list[subprocess.Popen] = []
    failures = 0
    with embedded_services():
        subprocess.run(
            [sys.executable, "manage.py", "migrate_schemas", "--executor=standard", "-v", "0"],
            check=True,
        )
        try:
            upstream_port, web_port = _free_port(), _free_port()
            upstream = subprocess.Popen(
                [sys.executable, str(HERE / "upstream_server.py"), "--port", str(upstream_port)]
            )
            processes.append(upstream)
            upstream_url = f"http://127.0.0.1:{upstream_port}/mcp"
            _wait(upstream_url, upstream)
            config_id, token = _provision(upstream_url)
            base_url = f"http://127.0.0.1:{web_port}"
            web = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(web_port),
                    "vmcp_platform.asgi:application",
                ],
                env={**os.environ, "PUBLIC_BASE_URL": base_url},
            )
            processes.append(web)
            _wait(f"{base_url}/healthz", web)
            url = f"{base_url}/t/{SLUG}/mcp/{config_id}"
            revisions = REVISIONS if args.revision == "both" else (args.revision,)
            for revision in revisions:
                command = [args.tool, url, token]
                if args.scenario:
                    # A single scenario at that revision's wire; no requirement set, no baseline.
                    command += ["--scenario", args.scenario, "--spec-version", revision]
                else:
                    command += [
                        "--requirements",
                        revision,
                        "--expected-failures",
                        str(HERE / f"baseline-{revision}.yml"),
                    ]
                print(f"· conformance {revision}: {' '.join(command[:2])} …", flush=True)
                result = subprocess.run(command, check=False)
                if result.returncode != 0:
                    failures += 1
                    print(f"✗ {revision}: unexpected failures (exit {result.returncode})")
                else:
                    print(f"✓ {revision}: as expected")
        finally:
            for process in reversed(processes):
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            try:
                _cleanup()
            except Exception as exc:  # noqa: BLE001 - best effort; report, don't mask results
                print(f"· could not delete the conformance tenant: {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
