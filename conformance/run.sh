#!/usr/bin/env bash
# CI entry point: run the MCP conformance suite for both revisions (see conformance/run.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" conformance/run.py "$@"
