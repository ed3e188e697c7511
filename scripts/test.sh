#!/usr/bin/env bash
# Set up and run the whole test suite (lint first): ./scripts/test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh "[test]"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
