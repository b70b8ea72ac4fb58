from django.apps import AppConfig


class ConfigsConfig(AppConfig):
    name = "configs"

    def ready(self) -> None:
        # Expired session tokens join audit's retention purge.
        from configs import purge

        purge.register()
