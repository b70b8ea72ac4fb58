from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.services import tenant_create
from vmcp_platform.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a tenant: its schema (with tenant migrations) and its owner login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True, help="URL name: a-z, 0-9 and '-'")
        parser.add_argument("--name", required=True, help="Display name")
        parser.add_argument("--owner-email", required=True, help="E-mail of the owner login")
        parser.add_argument(
            "--password", help="Owner password (omit to leave the login without one)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Creating tenant {options['slug']!r} and migrating its schema …")
        email = options["owner_email"].strip().lower()
        if options["password"] and get_user_model().objects.filter(username=email).exists():
            # An existing login keeps its credentials (user_get_or_create never overwrites them).
            self.stdout.write(
                self.style.WARNING(
                    f"{email} already has a login: --password is ignored; use "
                    "'manage.py changepassword' to set one."
                )
            )
        try:
            tenant = tenant_create(
                slug=options["slug"],
                name=options["name"],
                owner_email=options["owner_email"],
                owner_password=options["password"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Tenant {tenant.slug!r} created (schema {tenant.schema_name}); "
                f"owner {options['owner_email']}."
            )
        )
