from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    """The provider catalogue and adapters: code only, no models, the same for every tenant."""

    name = "connectors"
