from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from tenants.models import Tenant
from tenants.services import tenant_create
from vmcp_platform.launcher import DEMO_EMAIL, demo_login_read, demo_login_write


class Command(BaseCommand):
    help = "Ensure the 'demo' tenant and its owner login exist; print the login."

    def handle(self, *args: Any, **options: Any) -> None:
        var = Path(settings.VAR_DIR)
        if not Tenant.objects.filter(slug="demo").exists():
            password = secrets.token_urlsafe(12)
            self.stdout.write("Creating the demo tenant …")
            tenant_create(slug="demo", name="Demo", owner_email=DEMO_EMAIL, owner_password=password)
            demo_login_write(var, DEMO_EMAIL, password)
        login = demo_login_read(var)
        if login is not None:
            demo_login_write(var, *login)  # an earlier version's file gains the e-mail
        email, password = login or (DEMO_EMAIL, "(unchanged)")
        self.stdout.write(f"login: {email} / {password} (kept in {var / 'demo-login.txt'})")
