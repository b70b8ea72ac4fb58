#!/usr/bin/env bash
# Installs the public OpenAPI documents the openapi connector tests import (npm packages,
# pinned by package-lock.json); the suite runs this when node_modules is missing.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
