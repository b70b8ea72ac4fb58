"""The Celery app: tenant-aware, so a task runs in the schema of the tenant that queued it."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")

from tenant_schemas_celery.app import CeleryApp  # noqa: E402

app = CeleryApp("vmcp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
