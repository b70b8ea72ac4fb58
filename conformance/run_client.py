"""Run the official MCP conformance suite's client scenarios against vmcp's upstream client.

    conformance/run_client.sh                     # every scenario below, both revisions
    conformance/run_client.sh --scenario auth/basic-cimd --revision 2026-07-28 [--verbose]

The client is ``manage.py mcp_client_check`` (vmcp's upstream MCP client: OAuth discovery,
registration, authorization against the suite's auto-approving authorization server, then
``initialize``/``tools/list``/``tools/call``). The scenarios are the suite's ``auth/*`` (less
its ``extension`` ones), ``initialize``, ``tools_call``, ``sse-retry``, ``request-metadata``
and ``http-*``, each run for every revision (2025-11-25, 2026-07-28) the suite lists it under
(``conformance list --client``), with ``--spec-version`` set to that revision.

``conformance/baseline-client.yml`` lists the expected failures, one per line as
``- <revision> <scenario>  # <reason>``; a line without a reason, a listed run that now
passes (stale) and an unlisted failure all make the run fail.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BASELINE = Path(__file__).resolve().parent / "baseline-client.yml"
REVISIONS = ("2025-11-25", "2026-07-28")
VERSION = os.environ.get("MCP_CONFORMANCE_VERSION", "0.2.0-alpha.12")
SUITE = ["npx", "-y", "-p", "node@22", "-p", f"@modelcontextprotocol/conformance@{VERSION}", "--"]
WANTED = re.compile(r"^(auth/.*|initialize|tools_call|sse-retry|request-metadata|http-.*)$")
LISTED = re.compile(r"^\s*-\s+(\S+)\s+\[([^\]]*)\]")
ENTRY = re.compile(r"^\s*-\s+(\S+)\s+(\S+)\s*(?:#\s*(.*))?$")


def scenarios() -> list[tuple[str, str]]:
    """(revision, scenario) pairs the suite applies, for the scenarios named above."""
    listing = subprocess.run(
        [*SUITE, "conformance", "list", "--client"],
        capture_output=True,
        text=True,
        check=True,
        cwd=BASE_DIR,
    ).stdout
    pairs = []
    for line in listing.splitlines():
        match = LISTED.match(line)
        if not match or not WANTED.match(match.group(1)):
            continue
        revisions = [r.strip() for r in match.group(2).split(",")]
        pairs += [(rev, match.group(1)) for rev in REVISIONS if rev in revisions]
    return pairs


def baseline() -> dict[tuple[str, str], str]:
    expected: dict[tuple[str, str], str] = {}
    for number, line in enumerate(BASELINE.read_text().splitlines(), 1):
        if (
            not line.strip()
            or line.lstrip().startswith("#")
            or line.strip() in ("client:", "client: []")
        ):
            continue
        match = ENTRY.match(line)
        if not match or not (match.group(3) or "").strip():
            sys.exit(f"{BASELINE.name}:{number}: expected '- <revision> <scenario>  # <reason>'")
        expected[(match.group(1), match.group(2))] = match.group(3).strip()
    return expected


def run_one(python: str, revision: str, scenario: str, verbose: bool) -> bool:
    command = f"{shlex.quote(python)} {shlex.quote(str(BASE_DIR / 'manage.py'))} mcp_client_check"
    result = subprocess.run(
        [
            *SUITE,
            "conformance",
            "client",
            "--command",
            command,
            "--scenario",
            scenario,
            "--spec-version",
            revision,
            # The machine may be busy (CI runners, several jobs): the suite's 30 s default has
            # timed a healthy client out while Django was still starting.
            "--timeout",
            "120000",
        ],
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
        timeout=300,
    )
    if verbose or result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-25:]
        print("\n".join(f"    {line}" for line in tail))
    return result.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario")
    parser.add_argument("--revision", choices=REVISIONS)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    python = os.environ.get("PYTHON") or sys.executable
    expected = baseline()
    pairs = [
        (rev, name)
        for rev, name in scenarios()
        if (not args.scenario or name == args.scenario)
        and (not args.revision or rev == args.revision)
    ]
    unexpected, stale, known = [], [], []
    for revision, scenario in pairs:
        started = time.monotonic()
        passed = run_one(python, revision, scenario, args.verbose)
        verdict = "pass" if passed else "FAIL"
        print(f"{revision} {scenario}: {verdict} ({time.monotonic() - started:.1f}s)", flush=True)
        listed = (revision, scenario) in expected
        if passed and listed:
            stale.append(f"{revision} {scenario}")
        elif not passed and listed:
            known.append(f"{revision} {scenario}: {expected[(revision, scenario)]}")
        elif not passed:
            unexpected.append(f"{revision} {scenario}")
    print(
        f"\n{len(pairs)} runs: {len(pairs) - len(unexpected) - len(known)} passed,"
        f" {len(known)} expected failures, {len(unexpected)} unexpected, {len(stale)} stale"
    )
    for line in known:
        print(f"  ~ {line}")
    for line in unexpected:
        print(f"  ✗ unexpected failure: {line}")
    for line in stale:
        print(f"  ✗ stale baseline entry (passes now): {line}")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())
