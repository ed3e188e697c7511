#!/usr/bin/env bash
# Set up and start the appliance with its console: ./scripts/start.sh [segcli options]
# (for example: ./scripts/start.sh --data ./data --smtp 127.0.0.1:2525).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/segcli "$@"
