"""The ASGI app daphne serves: Django views, plus the MCP endpoint as a Channels consumer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from gateway.routing import mcp_routes  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter([*mcp_routes, re_path(r"", django_asgi_app)]),
    }
)
