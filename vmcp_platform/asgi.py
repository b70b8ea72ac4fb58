"""The ASGI app daphne serves: Django views, plus the MCP endpoint as a Channels consumer."""

import os

from django.core.asgi import get_asgi_application

from vmcp_platform import access_log

access_log.install()  # before the server writes its first access line
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from gateway.routing import mcp_routes  # noqa: E402

# ``/static/…`` (the dashboard's CSS, JS and vendored htmx) is served by the app itself, from
# the staticfiles finders, whatever DEBUG says: the product is self-hosted and ``make run`` is
# daphne alone. A CDN or reverse proxy in front can take ``/static/`` over (``collectstatic``
# fills STATIC_ROOT); requests it answers never reach this handler.
application = ASGIStaticFilesHandler(
    ProtocolTypeRouter(
        {
            "http": URLRouter([*mcp_routes, re_path(r"", django_asgi_app)]),
        }
    )
)
