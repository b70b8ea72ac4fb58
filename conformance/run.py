"""Run the official MCP conformance suite against a virtual server that proxies our upstream.

    conformance/run.sh                                  # both revisions, with the baselines
    conformance/run.sh --revision 2026-07-28 --scenario tools-list [--verbose]

Uses the PostgreSQL/Redis of ``DATABASE_URL``/``REDIS_URL`` when set (CI; the database is
created if missing), embedded ones otherwise. Migrates, starts ``conformance/upstream_server.py``
and daphne on free loopback ports, provisions a tenant with an ``mcp`` connection to the
upstream, a config exposing all its tools and a session token, then runs
``../shared/tools/mcp-conformance`` (beside the repository; ``--tool`` or ``MCP_CONFORMANCE``
to override) for each revision with ``conformance/baseline-<revision>.yml``. Prints a summary per
revision and exits non-zero on any unexpected failure or stale baseline entry. The tenant is
deleted afterwards; the upstream's and daphne's output goes to ``var/conformance/``.

Child processes run on the repository's virtualenv (``.venv/bin/python``) when it exists,
otherwise on the interpreter running this script. Extra options (``--verbose``, ``-o DIR``)
pass through to the suite.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

BASE_DIR = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
REVISIONS = ("2025-11-25", "2026-07-28")
SLUG = "conformance"
CONNECTION = "upstream"
VENV_PYTHON = BASE_DIR / ".venv" / "bin" / "python"
DEFAULT_TOOL = BASE_DIR.parent / "shared" / "tools" / "mcp-conformance"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SCENARIO_LINE = re.compile(r"^([✓✗]) (\S+): (\d+) passed, (\d+) failed")
_LISTED_LINE = re.compile(r"^\s+[~✗✓] (\S+)")
_SECTIONS = {
    "Expected failures": "expected",
    "Unexpected failures": "unexpected",
    "Stale baseline entries": "stale",
}


def _python() -> str:
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"{process.args!r} exited with {process.returncode}; its output:\n"
                f"{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout}s (see {log})")


def _ensure_database() -> None:
    """CI points DATABASE_URL at a server; create the database there when it is missing."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(url, connect_timeout=10):
            return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise SystemExit(f"cannot connect to DATABASE_URL: {exc}") from None
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"· created database {name}", flush=True)


def _provision_tenant() -> str:
    """A fresh tenant and an API key (the upstream's re-sync hook uses it); returns the key."""
    import django

    django.setup()
    from tenants.models import Tenant
    from tenants.services import api_key_create, tenant_create, tenant_delete

    existing = Tenant.objects.filter(slug=SLUG).first()
    if existing:
        tenant_delete(tenant=existing)
    tenant = tenant_create(slug=SLUG, name="Conformance", owner_email="owner@conformance.test")
    return api_key_create(tenant=tenant, name="upstream re-sync", created_by="conformance").secret


def _provision_config(upstream_url: str) -> tuple[str, str]:
    """The ``mcp`` connection to the upstream, a config exposing all its tools, prompts and
    resources, a token."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from accounts.services.sessions import session_token_mint
    from configs.models import Connection
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create
    from tenants.models import Tenant

    with tenant_context(Tenant.objects.get(slug=SLUG)):
        upstream = connection_create(
            name=CONNECTION,
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
            description="Every tool, prompt and resource of the conformance upstream server.",
            mappings=[
                {
                    "connection_name": CONNECTION,
                    "tools": ["*"],
                    "prompts": ["*"],
                    "resources": ["*"],
                }
            ],
            actor="conformance",
        )
        minted = session_token_mint(
            config=config, identifier="conformance", expiry_seconds=86400, actor="conformance"
        )
    connection.set_schema_to_public()
    return str(config.pk), minted.secret


def _cleanup() -> None:
    import django

    django.setup()
    from tenants.models import Tenant
    from tenants.services import tenant_delete

    tenant = Tenant.objects.filter(slug=SLUG).first()
    if tenant:
        tenant_delete(tenant=tenant)


# ------------------------------------------------------------------ the suite and its summary


@dataclass
class Outcome:
    revision: str
    exit_code: int = 0
    seconds: float = 0.0
    scenarios: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (pass, fail)
    listed: dict[str, list[str]] = field(default_factory=dict)  # expected/unexpected/stale

    def names(self, kind: str) -> list[str]:
        return self.listed.get(kind, [])


def _run_suite(command: list[str], revision: str, out: IO[str]) -> Outcome:
    """Run the suite, echoing its output (minus npm's noise), and parse its summary."""
    outcome = Outcome(revision)
    started = time.monotonic()
    section: str | None = None
    in_summary = False
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert process.stdout is not None
    for raw in process.stdout:
        line = _ANSI.sub("", raw.rstrip("\n"))
        if line.startswith("npm warn"):
            continue
        out.write(raw if raw.endswith("\n") else raw + "\n")
        out.flush()
        if line.startswith("=== SUMMARY ==="):
            in_summary = True
            continue
        if not in_summary:
            continue
        match = _SCENARIO_LINE.match(line)
        if match:
            outcome.scenarios[match.group(2)] = (int(match.group(3)), int(match.group(4)))
            continue
        heading = next((kind for title, kind in _SECTIONS.items() if line.startswith(title)), None)
        if heading:
            section = heading
            continue
        listed = _LISTED_LINE.match(line)
        if section and listed:
            outcome.listed.setdefault(section, []).append(listed.group(1))
        elif not line.strip():
            section = None
    outcome.exit_code = process.wait()
    outcome.seconds = time.monotonic() - started
    return outcome


def _names(names: set[str] | list[str]) -> str:
    return ", ".join(sorted(names)) or "-"


def _print_summary(outcomes: list[Outcome], total_seconds: float) -> None:
    print("\n==================== conformance summary ====================")
    for outcome in outcomes:
        expected = set(outcome.names("expected"))
        unexpected = set(outcome.names("unexpected"))
        stale = set(outcome.names("stale"))
        # A scenario with only warnings counts as failing for the baseline check (the suite's rule).
        failing = {n for n, (_, failed) in outcome.scenarios.items() if failed > 0}
        failing |= expected | unexpected
        passed = sorted(set(outcome.scenarios) - failing)
        not_scored = sorted(failing - expected - unexpected)
        verdict = "PASS" if outcome.exit_code == 0 else f"FAIL (exit {outcome.exit_code})"
        print(f"\n{outcome.revision}: {verdict} in {outcome.seconds:.0f}s")
        print(f"  passed ({len(passed)}): {_names(passed)}")
        print(f"  expected failures, baseline ({len(expected)}): {_names(expected)}")
        if not_scored:
            print(f"  failing, not scored for {outcome.revision}: {_names(not_scored)}")
        if unexpected:
            print(f"  UNEXPECTED failures: {_names(unexpected)}")
        if stale:
            print(f"  STALE baseline entries (now passing; remove them): {_names(stale)}")
    print(f"\ntotal {total_seconds:.0f}s")
    print("=============================================================")


def _maybe_reexec_in_venv() -> None:
    """``python conformance/run.py`` from outside the venv still runs on the repo's venv."""
    if not VENV_PYTHON.exists() or os.environ.get("VMCP_CONFORMANCE_NO_REEXEC"):
        return
    if Path(sys.prefix).resolve() == (BASE_DIR / ".venv").resolve():
        return
    os.environ["VMCP_CONFORMANCE_NO_REEXEC"] = "1"
    script = str(Path(__file__).resolve())
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), script, *sys.argv[1:]])  # noqa: S606


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--revision", choices=[*REVISIONS, "both"], default="both")
    parser.add_argument("--scenario", help="run one scenario at that revision's wire (no baseline)")
    parser.add_argument("--tool", default=os.environ.get("MCP_CONFORMANCE") or str(DEFAULT_TOOL))
    args, passthrough = parser.parse_known_args(argv)
    if not Path(args.tool).exists():
        print(f"the conformance tool is not at {args.tool} (set --tool or MCP_CONFORMANCE)")
        return 2

    started = time.monotonic()
    sys.path.insert(0, str(BASE_DIR))
    os.chdir(BASE_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")
    # The upstream runs on loopback: let the SSRF guard allow it for this run only.
    os.environ["VMCP_SSRF_ALLOWED_HOSTS"] = "127.0.0.1"
    from vmcp_platform.embedded import embedded_services

    logs = Path(os.environ.get("VMCP_VAR_DIR") or BASE_DIR / "var") / "conformance"
    logs.mkdir(parents=True, exist_ok=True)
    python = _python()
    processes: list[subprocess.Popen] = []
    outcomes: list[Outcome] = []
    with embedded_services():
        _ensure_database()
        print("· migrating …", flush=True)
        subprocess.run(
            [python, "manage.py", "migrate_schemas", "--executor=standard", "-v", "0"],
            check=True,
        )
        try:
            upstream_port, web_port = _free_port(), _free_port()
            base_url = f"http://127.0.0.1:{web_port}"
            api_key = _provision_tenant()
            upstream_log = logs / "upstream.log"
            upstream = subprocess.Popen(
                [python, str(HERE / "upstream_server.py"), "--port", str(upstream_port)],
                stdout=upstream_log.open("wb"),
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "VMCP_CONFORMANCE_SYNC_URL": (
                        f"{base_url}/t/{SLUG}/api/v1/connections/{CONNECTION}/sync"
                    ),
                    "VMCP_CONFORMANCE_API_KEY": api_key,
                },
            )
            processes.append(upstream)
            upstream_url = f"http://127.0.0.1:{upstream_port}/mcp"
            _wait(upstream_url, upstream, upstream_log)
            config_id, token = _provision_config(upstream_url)
            web_log = logs / "daphne.log"
            web = subprocess.Popen(
                [
                    python,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(web_port),
                    "vmcp_platform.asgi:application",
                ],
                env={**os.environ, "PUBLIC_BASE_URL": base_url},
                stdout=web_log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            processes.append(web)
            _wait(f"{base_url}/healthz", web, web_log)
            url = f"{base_url}/t/{SLUG}/mcp/{config_id}"
            revisions = REVISIONS if args.revision == "both" else (args.revision,)
            for revision in revisions:
                command = [args.tool, url, token]
                if args.scenario:
                    # One scenario at that revision's wire; no requirement set, no baseline.
                    command += ["--scenario", args.scenario, "--spec-version", revision]
                else:
                    command += [
                        "--requirements",
                        revision,
                        "--expected-failures",
                        str(HERE / f"baseline-{revision}.yml"),
                    ]
                command += passthrough
                print(f"\n· conformance {revision}: {args.tool} {url} … ", flush=True)
                outcomes.append(_run_suite(command, revision, sys.stdout))
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
    _print_summary(outcomes, time.monotonic() - started)
    print(f"(upstream and daphne output: {logs})")
    return 1 if any(outcome.exit_code for outcome in outcomes) else 0


if __name__ == "__main__":
    _maybe_reexec_in_venv()
    raise SystemExit(main())
