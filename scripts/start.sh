#!/usr/bin/env bash
# Set up and start the lab: the appliance with its console, the SETD simulator, a DNS zone
# and a delivery sink.  ./scripts/start.sh [segcli options], for example:
#   ./scripts/start.sh --data ./data --smtp 127.0.0.1:2525
# Without a terminal (e.g. under a service manager) the lab runs headless until SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/segcli "$@" lab
