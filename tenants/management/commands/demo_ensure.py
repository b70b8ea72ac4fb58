from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from tenants.models import Tenant
from tenants.services import tenant_create

DEMO_EMAIL = "admin@demo.local"


class Command(BaseCommand):
    help = "Ensure the 'demo' tenant and its owner login exist; print the login."

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = Path(settings.VAR_DIR) / "demo-login.txt"
        if not Tenant.objects.filter(slug="demo").exists():
            password = secrets.token_urlsafe(12)
            self.stdout.write("Creating the demo tenant …")
            tenant_create(slug="demo", name="Demo", owner_email=DEMO_EMAIL, owner_password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password)
            password_file.chmod(0o600)
        password = password_file.read_text().strip() if password_file.exists() else "(unchanged)"
        self.stdout.write(f"login: {DEMO_EMAIL} / {password}")
