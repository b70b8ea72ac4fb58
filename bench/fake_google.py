"""The fake Google API (``tests/fakes/providers.py``) in its own process, for the REST connector.

    python bench/fake_google.py --port 8766 --users 64

Prints one JSON line ``{"gmail_url": …, "tokens": {user: token response}}`` once it serves, then
serves until terminated. A process of its own, so the fake's work does not share the load
generator's interpreter.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.providers import FakeProviders  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--users", type=int, default=64)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeProviders(port=args.port) as fake:
        tokens = {
            f"user-{i}": fake.issue_token("gmail", f"user-{i}", expires_in=24 * 3600)
            for i in range(args.users)
        }
        print(json.dumps({"gmail_url": fake.url("gmail"), "tokens": tokens}), flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
