from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"

    def ready(self) -> None:
        # Spent OAuth states (and their verifiers) and connect links join audit's retention purge.
        from vault import purge

        purge.register()
