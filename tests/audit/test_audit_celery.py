"""The daily purge, end to end: beat's task on the real Redis broker, a real Celery worker, and
one purge per tenant, each in that tenant's schema."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from pathlib import Path

from celery.schedules import crontab
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.tasks import purge_all_tenants, purge_tenant
from tenants.models import Tenant
from tests.audit.factories import make_events_aged
from tests.conftest import BASE_DIR, live_env
from vmcp_platform.celery import app


def _ages(tenant: Tenant) -> list[float]:
    with tenant_context(tenant):
        return sorted(e.extra["age"] for e in AuditEvent.objects.filter(event_type="tool.called"))


# ``db`` here also makes pytest-django create the test database when this file runs alone: the
# worker test below uses only committed tenants, which pytest-django does not count.
def test_beat_schedules_the_daily_purge_and_the_token_refresh(db):  # noqa: ANN001
    schedule = app.conf.beat_schedule
    assert schedule["audit-purge-all-tenants"]["task"] == purge_all_tenants.name
    assert purge_all_tenants.name == "audit.tasks.purge_all_tenants"
    assert purge_tenant.name == "audit.tasks.purge_tenant"
    assert schedule["audit-purge-all-tenants"]["schedule"] == crontab(hour=3, minute=17)
    refresh = schedule["vault-refresh-expiring-accounts"]
    vault_tasks = importlib.import_module("accounts.tasks")
    assert refresh["task"] == vault_tasks.refresh_expiring_all_tenants.name
    assert refresh["schedule"] == 300


def test_a_real_worker_purges_every_tenant_in_its_own_schema(
    live_tenant, committed_tenant, django_db_blocker, tmp_path: Path
):
    second = committed_tenant("celery-second")
    tenants = [live_tenant, second]
    now = timezone.now()
    with django_db_blocker.unblock():
        second.audit_retention_days = 30
        second.save(update_fields=["audit_retention_days"])
        for tenant in tenants:
            with tenant_context(tenant):
                make_events_aged([5, 45, 120], now=now)
        connection.set_schema_to_public()
        every_schema = set(
            Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True)
        )
    assert {"t_acme", "t_globex", live_tenant.schema_name, second.schema_name} <= every_schema

    # Messages left on this Redis db by an aborted earlier run would name tenants of a previous
    # test database.
    app.control.purge()
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "vmcp_platform",
                "worker",
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            cwd=BASE_DIR,
            env={**live_env(), "REDIS_URL": settings.REDIS_URL},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            purge_all_tenants.delay()
            deadline = time.monotonic() + 60
            with django_db_blocker.unblock():
                while time.monotonic() < deadline:
                    assert worker.poll() is None, log_path.read_text()
                    output = log_path.read_text()
                    done = all(f"(schema {schema}) lost" in output for schema in every_schema)
                    if done and _ages(live_tenant) == [5, 45] and _ages(second) == [5]:
                        break
                    time.sleep(0.25)
                ages = (_ages(live_tenant), _ages(second))
                connection.set_schema_to_public()
        finally:
            worker.terminate()
            worker.wait(timeout=20)

    output = log_path.read_text()
    assert ages == ([5, 45], [5]), output
    # One purge task per tenant, each of which found itself in that tenant's schema.
    for schema in every_schema:
        assert f"(schema {schema}) lost" in output, output
    assert f"(schema {live_tenant.schema_name}) lost 1 rows: audit_events=1" in output
    assert f"(schema {second.schema_name}) lost 2 rows: audit_events=2" in output
    assert "arrived in schema" not in output
    assert "Traceback" not in output, output
