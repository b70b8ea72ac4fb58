"""A headless "browser" for command-line MCP clients in tests: ``BROWSER`` points at it.

    python -m tests.oauth.browser_cli <login> <stop-at-prefix> <authorize-url>

Signs ``login`` in at the test IdP, approves consent, then delivers the final redirect (code,
state, iss) to the client's own loopback callback, as a browser would.
"""

from __future__ import annotations

import asyncio
import sys

import httpx

from .support import Browser


async def main(login: str, stop_at: str, url: str) -> None:
    browser = Browser(login=login, stop_at=stop_at)
    got = await browser.authorize(url)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(got["_location"])
    print(f"delivered to the client's callback: HTTP {response.status_code}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
