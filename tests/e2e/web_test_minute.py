"""Imported into the appliance process of the web tests (tests/e2e/web_fixtures.py):
``$SEGCLI_E2E_WEB_MINUTE`` (seconds) shortens the minute of the web sessions' inactivity
timeout in this process only, so the configured timeout is what decides."""

from __future__ import annotations

import os

from segcli.web import sessions

if os.environ.get("SEGCLI_E2E_WEB_MINUTE"):
    sessions.MINUTE = float(os.environ["SEGCLI_E2E_WEB_MINUTE"])
