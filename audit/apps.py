from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        # Record what tenants announces (API-key and member changes, failed API-key auth).
        from audit import receivers

        receivers.connect()
