"""``manage.py purge_expired``: the retention purge without Celery (for cron)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import get_public_schema_name

from audit.purge import DEFAULT_BATCH_SIZE, purge_expired
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Delete expired rows in every tenant (or one): audit events past the tenant's "
        "audit_retention_days, session tokens expired over a day ago, used or expired connect "
        "links and OAuth states (with their PKCE verifiers). Batched and safe to run while "
        "Celery's purge runs. MCP sessions expire in Redis by themselves."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant (default: all).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows per delete transaction (default {DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.exclude(schema_name=get_public_schema_name()).order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with the slug {options['tenant']!r}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        verb = "would delete" if options["dry_run"] else "deleted"
        grand_total = 0
        for tenant in tenants:
            counts = purge_expired(
                tenant=tenant, dry_run=options["dry_run"], batch_size=options["batch_size"]
            )
            total = sum(counts.values())
            grand_total += total
            detail = ", ".join(f"{kind}={n}" for kind, n in counts.items())
            self.stdout.write(f"{tenant.slug}: {verb} {total} ({detail})")
        self.stdout.write(self.style.SUCCESS(f"total: {verb} {grand_total}"))
