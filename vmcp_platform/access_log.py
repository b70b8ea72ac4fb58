"""The web server's own access log, redacted like every other log line.

daphne writes its access log itself (``daphne.access.AccessLogGenerator``), not through Python
logging, so the redacting filter on our handlers never sees it; a token a careless client puts
in a query string (``?access_token=vmcp_st_…``) would be written in clear. uvicorn logs access
through the ``uvicorn.access`` logger, but with its own handlers and a formatter that reads the
record's ``args``, so the generic filter (which folds the args into the message) cannot go there.

``install()`` runs when ``vmcp_platform.asgi`` is imported: daphne's CLI builds its access logger
*after* it imported the application, so replacing the class its CLI module uses covers plain
``daphne vmcp_platform.asgi:application`` too, with no wrapper command to remember.
"""

from __future__ import annotations

import logging
from typing import Any

from vmcp_platform.logging import redact


def _redacting_daphne_logger() -> type:
    from daphne.access import AccessLogGenerator

    class RedactingAccessLog(AccessLogGenerator):
        def write_entry(self, host: Any, date: Any, request: str, *args: Any, **kw: Any) -> None:
            super().write_entry(host, date, redact(request), *args, **kw)

    return RedactingAccessLog


class UvicornAccessFilter(logging.Filter):
    """Redacts the request path argument of uvicorn's access records, keeping their shape."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    """Redact daphne's and uvicorn's access logs in this process (idempotent)."""
    try:
        from daphne import cli
    except ImportError:  # daphne is a dependency, but the app must not need it to import
        pass
    else:
        if not getattr(cli.AccessLogGenerator, "vmcp_redacting", False):
            cli.AccessLogGenerator = _redacting_daphne_logger()
            cli.AccessLogGenerator.vmcp_redacting = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, UvicornAccessFilter) for f in access.filters):
        access.addFilter(UvicornAccessFilter())
