"""The Celery app: tenant-aware, so a task runs in the schema of the tenant that queued it."""

import importlib.util
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")

from celery.schedules import crontab  # noqa: E402
from tenant_schemas_celery.app import CeleryApp  # noqa: E402

app = CeleryApp("vmcp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat sends from the public schema; per-tenant work fans out from there (see audit.tasks).
beat_schedule: dict[str, dict[str, object]] = {
    # Daily, off-peak; each tenant's purge runs as its own task in its own schema.
    "audit-purge-all-tenants": {
        "task": "audit.tasks.purge_all_tenants",
        "schedule": crontab(hour=3, minute=17),
    },
    # Audit rows the database refused at call time wait in Redis (audit.spool) for this.
    "audit-drain-spool": {
        "task": "audit.tasks.drain_spool",
        "schedule": 5.0,
    },
}
# Token refresh (vault.tasks, owned by the accounts work): the fan-out, every 5 minutes; it
# queues one vault.tasks.refresh_expiring_accounts(tenant_id) per tenant. Guarded so beat never
# sends a task no worker has registered while that module is absent.
if importlib.util.find_spec("vault.tasks") is not None:
    beat_schedule["vault-refresh-expiring-accounts"] = {
        "task": "vault.tasks.refresh_expiring_all_tenants",
        "schedule": 5 * 60.0,
    }
app.conf.beat_schedule = beat_schedule
