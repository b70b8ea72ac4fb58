"""Regenerate the README's screenshots from the browser tests.

The end-to-end tests (``tests/e2e/``) drive Chromium through the real server and write every
page to ``test-artifacts/screenshots/``; this runs them (unless ``--no-run``) and copies the
ones the README shows into ``docs/screenshots/`` under the names it links to.

    python scripts/readme_screenshots.py            # run the e2e tests, then copy
    python scripts/readme_screenshots.py --no-run   # copy what the last run wrote

Needs what the e2e tests need: Debian's ``chromium`` (or ``VMCP_CHROMIUM``) and, like every
test, ``DATABASE_URL``/``REDIS_URL`` or the embedded servers.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"

# README name → the e2e screenshot it is.
README_SHOTS = {
    "overview.png": "16-overview-month.png",
    "server-builder.png": "06-server-builder.png",
    "server.png": "07-server.png",
    "audit-log.png": "11-audit-log.png",
    "connection-form.png": "04-connection-form.png",
    "playground.png": "23-playground.png",
    "phone-menu.png": "22-phone-menu.png",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="copy the last run's screenshots")
    args = parser.parse_args()
    if not args.no_run:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-p", "no:randomly"], cwd=ROOT
        )
        if run.returncode != 0:
            print("the e2e tests failed; screenshots not copied", file=sys.stderr)
            return run.returncode
    missing = [source for source in README_SHOTS.values() if not (SHOTS / source).exists()]
    if missing:
        print(f"missing in {SHOTS}: {', '.join(missing)}", file=sys.stderr)
        return 1
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, source in README_SHOTS.items():
        shutil.copyfile(SHOTS / source, DOCS / name)
        print(f"docs/screenshots/{name} ← test-artifacts/screenshots/{source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
