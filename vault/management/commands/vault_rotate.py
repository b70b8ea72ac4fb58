"""``manage.py vault_rotate``: re-wrap data keys under the current master key, optionally
moving every secret to a new data key version, without downtime."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import get_public_schema_name, tenant_context

from audit.models import EventType
from audit.services import audit_record
from tenants.models import Tenant
from vault.crypto import WrappedKey
from vault.keys import data_key_add_version, data_keys_rewrap, master_ring
from vault.models import DataKey
from vault.secrets import secret_versions, secrets_reencrypt_batch
from vmcp_platform.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Rotate vault keys. Re-wraps every tenant's data keys under the current (first) master "
        "key in VMCP_MASTER_KEYS; no secret rows are touched. With --data-keys, also creates a "
        "new data key version per tenant and re-encrypts its secrets in batches (each batch its "
        "own transaction, rows locked); older versions keep decrypting until no secret uses "
        "them. Prints, per tenant, how many secrets remain on each data key version. Keep the "
        "old master key in VMCP_MASTER_KEYS until this command has succeeded for every tenant."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant (default: all).")
        parser.add_argument(
            "--data-keys",
            action="store_true",
            help="Also create a new data key version and re-encrypt every secret with it.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            metavar="N",
            help="Secrets re-encrypted per transaction with --data-keys (default 500).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            ring, _ = master_ring()
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        tenants = Tenant.objects.exclude(schema_name=get_public_schema_name()).order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant with the slug {options['tenant']!r}.")
        self.stdout.write(
            f"Current master key version: {ring.current_version}"
            + (" (dry run: nothing will change)" if options["dry_run"] else "")
        )
        failed: list[str] = []
        for tenant in tenants:
            try:
                with tenant_context(tenant):
                    self._rotate_tenant(tenant, ring.current_version, options)
            except ApplicationError as exc:
                failed.append(tenant.slug)
                self.stderr.write(self.style.ERROR(f"{tenant.slug}: FAILED — {exc.message}"))
        if failed:
            raise CommandError(
                f"Rotation failed for {len(failed)} tenant(s): {', '.join(failed)}. Their keys "
                "are unchanged; keep the old master key configured and run again."
            )
        self.stdout.write(self.style.SUCCESS("Done."))

    def _rotate_tenant(self, tenant: Tenant, master_version: int, options: dict[str, Any]) -> None:
        slug = tenant.slug
        if options["dry_run"]:
            stale = sum(
                1
                for wrapped in DataKey.objects.values_list("wrapped", flat=True)
                if WrappedKey.from_bytes(wrapped).master_version != master_version
            )
            self.stdout.write(f"{slug}: {stale} data key(s) would be re-wrapped")
            self._report(slug, secret_versions())
            return
        rewrapped = data_keys_rewrap()
        self.stdout.write(
            f"{slug}: re-wrapped {rewrapped} data key(s) under master key v{master_version}"
        )
        extra: dict[str, Any] = {"master_version": master_version, "rewrapped": rewrapped}
        if options["data_keys"]:
            new_version = data_key_add_version()
            moved = 0
            while batch := secrets_reencrypt_batch(
                below_version=new_version, batch_size=options["batch_size"]
            ):
                moved += batch
                self.stdout.write(
                    f"{slug}: re-encrypted {moved} secret(s) with data key v{new_version}"
                )
            extra.update(data_key_version=new_version, reencrypted=moved)
        versions = secret_versions()
        self._report(slug, versions)
        extra["rows_per_key_version"] = {str(v): n for v, n in versions.items()}
        audit_record(event_type=EventType.VAULT_ROTATED, actor="system:vault_rotate", extra=extra)

    def _report(self, slug: str, versions: dict[int, int]) -> None:
        keys = list(DataKey.objects.order_by("version").values_list("version", flat=True))
        summary = ", ".join(f"v{v}: {versions.get(v, 0)}" for v in keys) or "no data keys yet"
        self.stdout.write(f"{slug}: secrets per data key version — {summary}")
