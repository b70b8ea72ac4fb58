"""The web process: daphne serving ``vmcp_platform.asgi:application`` on uvloop.

    python -m vmcp_platform.web [daphne's arguments]

The same as ``python -m daphne …`` (every argument is daphne's), except that the event loop
under daphne's Twisted reactor is uvloop's: daphne creates its loop at import time from the
event loop policy, so the policy is set first. uvloop's loop runs the callbacks, tasks and
socket I/O of every request for less CPU than asyncio's pure-Python selector loop (measured on
the bench: ~15 % less CPU per ``tools/call``, README, Performance). Without uvloop
installed (or with ``VMCP_UVLOOP=false``) it is plain daphne.
"""

from __future__ import annotations

import asyncio
import os


def install_uvloop() -> bool:
    """Make new event loops uvloop's; False when it is off or not installed."""
    if os.environ.get("VMCP_UVLOOP", "true").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def main() -> None:
    install_uvloop()
    from daphne.cli import CommandLineInterface  # after the policy: daphne makes its loop now

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
