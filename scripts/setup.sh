#!/usr/bin/env bash
# Create the virtual environment in .venv (if missing) and install segcli into it:
#   ./scripts/setup.sh            segcli itself
#   ./scripts/setup.sh "[test]"   with the extras the tests need
# Used by start.sh and test.sh; safe to run again.  The install is editable (source
# changes need none), so pip runs only when pyproject.toml changed or new extras are asked
# for: .venv/.segcli-installed holds a hash of pyproject.toml and the extras installed
# with it.  Delete that file (or .venv) to force a reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "segcli needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras=${1:-}
stamp=.venv/.segcli-installed
project=$(.venv/bin/python -c \
  'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
# Installed already: the segcli command is there, and the stamp names this pyproject.toml
# with these extras (a plain install is part of any install with extras).
installed() {
  [ -x .venv/bin/segcli ] && [ -f "$stamp" ] || return 1
  grep -qxF -- "$project $extras" "$stamp" && return 0
  [ -z "$extras" ] && grep -q "^$project " "$stamp"
}
if installed; then
  exit 0
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
# A stamp for another pyproject.toml is stale: start the list again.
if [ -f "$stamp" ] && ! grep -q "^$project " "$stamp"; then
  rm -f "$stamp"
fi
echo "$project ${extras}" >> "$stamp"
