#!/usr/bin/env bash
# CI entry point: the MCP conformance suite for both revisions against a virtual server (see
# conformance/run.py). Uses DATABASE_URL/REDIS_URL when set, embedded services otherwise; needs
# ../shared/tools/mcp-conformance beside the repository (or MCP_CONFORMANCE) and Node via npx.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
start=$(date +%s)
status=0
VMCP_CONFORMANCE_NO_REEXEC=1 "$python" conformance/run.py "$@" || status=$?
echo "conformance/run.sh: exit $status after $(( $(date +%s) - start ))s"
exit "$status"
