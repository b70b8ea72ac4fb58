from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.models import Tenant
from tenants.services import api_key_create
from vmcp_platform.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a tenant API key for REST clients; the key is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. backend")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with the slug {options['tenant']!r}.")
        try:
            created = api_key_create(tenant=tenant, name=options["name"], created_by="cli")
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"API key {options['name']!r} for tenant {tenant.slug!r} (shown once; store it now):"
        )
        self.stdout.write(created.secret)
