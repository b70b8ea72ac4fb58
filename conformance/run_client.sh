#!/usr/bin/env bash
# CI entry point: the MCP conformance suite's client scenarios against vmcp's upstream client
# (manage.py mcp_client_check), both revisions, with conformance/baseline-client.yml. Needs Node
# via npx (the suite fetches node@22). See conformance/run_client.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
start=$(date +%s)
status=0
PYTHON="$python" "$python" conformance/run_client.py "$@" || status=$?
echo "conformance/run_client.sh: exit $status after $(( $(date +%s) - start ))s"
exit "$status"
