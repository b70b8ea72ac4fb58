"""The suite's personas and shared fixtures.

Tenants ``acme`` (alice: owner, bob: admin, audrey: auditor) and ``globex`` (carol: owner) are
created once per session, with their schemas. Most tests run inside pytest-django's rolled-back
transaction; tests that need another process (daphne, Celery) use ``committed`` data in tenants
they create and drop themselves (see ``live_tenant``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from tenants.models import Tenant

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"

pytest_plugins = ["tests.fakes.plugin", "tests.secret_scan"]


@dataclass(frozen=True)
class Persona:
    email: str
    tenant_slug: str
    role: str


PERSONAS = {
    "alice": Persona("alice@acme.test", "acme", "owner"),
    "bob": Persona("bob@acme.test", "acme", "admin"),
    "audrey": Persona("audrey@acme.test", "acme", "auditor"),
    "carol": Persona("carol@globex.test", "globex", "owner"),
}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):  # noqa: ANN001 - pytest-django's
    """Create the persona tenants once; their schemas outlive every test's rollback."""
    from django.test.utils import setup_databases, teardown_databases

    from tenants.services import membership_set, tenant_create, user_get_or_create

    # pytest-django creates the test database only when a selected test is marked for DB
    # access; a run of live-server tests alone still needs it (the personas live there).
    own_database = None
    if not connection.settings_dict["NAME"].startswith("test_"):
        with django_db_blocker.unblock():
            own_database = setup_databases(verbosity=0, interactive=False, aliases={"default"})

    with django_db_blocker.unblock():
        tenants = {}
        for slug, name, owner in (("acme", "Acme", "alice"), ("globex", "Globex", "carol")):
            tenants[slug] = tenant_create(
                slug=slug, name=name, owner_email=PERSONAS[owner].email, owner_password=PASSWORD
            )
        for persona in PERSONAS.values():
            user = user_get_or_create(email=persona.email, password=PASSWORD)
            membership_set(tenant=tenants[persona.tenant_slug], user=user, role=persona.role)
        connection.set_schema_to_public()
    yield
    # Threads and child processes of some tests may still hold connections; the test database
    # cannot be dropped while they do.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    if own_database is not None:
        with django_db_blocker.unblock():
            teardown_databases(own_database, verbosity=0)


@pytest.fixture
def acme(db) -> Tenant:  # noqa: ANN001
    return Tenant.objects.get(slug="acme")


@pytest.fixture
def globex(db) -> Tenant:  # noqa: ANN001
    return Tenant.objects.get(slug="globex")


@pytest.fixture
def in_acme(acme: Tenant) -> Iterator[Tenant]:
    """Run the test body with acme's schema selected (tenant-schema models)."""
    with tenant_context(acme):
        yield acme


@pytest.fixture
def user_of(db) -> Callable[[str], object]:  # noqa: ANN001
    from django.contrib.auth import get_user_model

    def get(name: str) -> object:
        return get_user_model().objects.get(username=PERSONAS[name].email)

    return get


def _api_client(tenant: Tenant) -> tuple[APIClient, str]:
    from tenants.services import api_key_create

    secret = api_key_create(tenant=tenant, name="tests", created_by="tests").secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, secret


@pytest.fixture
def acme_api(acme: Tenant) -> APIClient:
    """An API client authenticated with an acme API key; paths are /t/acme/api/v1/…"""
    return _api_client(acme)[0]


@pytest.fixture
def globex_api(globex: Tenant) -> APIClient:
    return _api_client(globex)[0]


# ---------------------------------------------------------------- other processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout}s")


def live_env() -> dict[str, str]:
    """Environment for a child process that must see the test database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vmcp_platform.settings.test",
        "VMCP_LIVE_DATABASE_NAME": connection.settings_dict["NAME"],
    }


@contextmanager
def run_daphne(port: int | None = None, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Start the real ASGI app under daphne on loopback; yields its base URL."""
    from tests.secret_scan import daphne_log_file

    port = port or free_port()
    log_file = daphne_log_file(port)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vmcp_platform.web",  # daphne on uvloop, as the launcher runs it
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "vmcp_platform.asgi:application",
        ],
        cwd=BASE_DIR,
        env={**live_env(), **(extra_env or {})},
        # Kept for the suite's secret scan (tests/secret_scan.py) and for failure reports.
        stdout=log_file.open("ab"),
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait_for(f"{base_url}/healthz", process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; daphne said:\n{log_file.read_text()[-3000:]}") from None
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker) -> Iterator[str]:  # noqa: ANN001
    """One daphne process for the session, serving the test database."""
    with django_db_blocker.unblock(), run_daphne() as url:
        yield url


@pytest.fixture
def live_tenant(django_db_blocker, django_db_setup, request) -> Iterator[Tenant]:  # noqa: ANN001
    """A committed tenant of its own (visible to daphne/Celery), dropped after the test."""
    from tenants.services import tenant_create, tenant_delete

    slug = (
        "live-"
        + request.node.name.lower().replace("_", "-")[:30].strip("-")
        + "-"
        + str(os.getpid() % 1000)
    )
    slug = "".join(ch for ch in slug if ch.isalnum() or ch == "-").strip("-")[:50]
    with django_db_blocker.unblock():
        existing = Tenant.objects.filter(slug=slug).first()
        if existing:
            tenant_delete(tenant=existing)
        tenant = tenant_create(
            slug=slug,
            name=f"Live {slug}",
            owner_email=f"owner@{slug}.test",
            owner_password=PASSWORD,
        )
        connection.set_schema_to_public()
        try:
            yield tenant
        finally:
            connection.set_schema_to_public()
            # Rows written by other processes (daphne, Celery) die with the schema: scan first.
            from audit.models import AuditEvent
            from tests.secret_scan import collect_audit_rows

            with tenant_context(tenant):
                collect_audit_rows(AuditEvent.objects.all())
            tenant_delete(tenant=tenant)


@pytest.fixture(autouse=True)
def _fresh_auth_failure_counters() -> None:
    """Failed-authentication counters and their audit aggregation live in Redis per source, and
    every test request comes from 127.0.0.1: forget them so one test's failures (or a rolled-back
    audit row they point at) do not carry into the next."""
    try:
        from vmcp_platform import authfail

        client = authfail.sync_client()
        keys = list(client.scan_iter(match="vmcp:authfail:*", count=1000))
        if keys:
            client.delete(*keys)
    except Exception:  # noqa: BLE001 - a test without Redis has nothing to forget
        pass
