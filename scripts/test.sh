#!/usr/bin/env bash
# Set up and run the whole test suite (lint and type check first): ./scripts/test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh "[test]"
.venv/bin/ruff check .
.venv/bin/mypy  # [tool.mypy] in pyproject.toml says what it checks
exec .venv/bin/python -m pytest "$@"
