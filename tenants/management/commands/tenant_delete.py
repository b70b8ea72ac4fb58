from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.models import Tenant
from tenants.services import tenant_delete


class Command(BaseCommand):
    help = "Delete a tenant and drop its schema, destroying all of its data and keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["slug"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['slug']!r}.")
        if not options["yes"]:
            try:
                answer = input(
                    f"Delete tenant {tenant.slug!r} and ALL its data "
                    f"(schema {tenant.schema_name})? Type the slug to confirm: "
                )
            except EOFError:
                answer = ""
            if answer.strip() != tenant.slug:
                raise CommandError("Not confirmed; nothing was deleted.")
        tenant_delete(tenant=tenant)
        self.stdout.write(self.style.SUCCESS(f"Tenant {options['slug']!r} deleted."))
