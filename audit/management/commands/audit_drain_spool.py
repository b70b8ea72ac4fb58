"""``manage.py audit_drain_spool``: insert the audit rows spooled in Redis (without Celery)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from audit.spool import spool_drain


class Command(BaseCommand):
    help = (
        "Insert the audit rows that the database refused at call time and that were spooled "
        "to Redis (idempotent: a row already stored is skipped). Celery beat runs the same "
        "drain every few seconds."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{spool_drain()} spooled audit rows inserted")
