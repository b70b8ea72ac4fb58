from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"

    def ready(self) -> None:
        # Push config changes and token revocations to open MCP streams.
        from gateway import signals
        from gateway.oauth import purge

        signals.connect()
        # Spent authorizations and expired refresh tokens join audit's retention purge.
        purge.register()
