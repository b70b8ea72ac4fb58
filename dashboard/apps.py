from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The tenant admin dashboard: server-rendered pages over the other apps' services."""

    name = "dashboard"
    default_auto_field = "django.db.models.BigAutoField"
