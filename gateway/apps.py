from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"

    def ready(self) -> None:
        # Push config changes and token revocations to open MCP streams.
        from gateway import signals

        signals.connect()
