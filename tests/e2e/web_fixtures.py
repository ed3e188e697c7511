"""A ``segcli lab`` with its web interface on free ports, and Debian's chromium driven by
Playwright, for the web interface's browser tests (tests/e2e/test_web_*.py).

``$SEGCLI_E2E_WEB_MINUTE`` (seconds) shortens the minute of the web sessions' inactivity
timeout in the appliance process only (tests/e2e/web_test_minute.py): the timeout itself is
configured with ``adminaccessconfig`` as a person would.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, run_segcli, segcli_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PRELOAD = ("import sys; import tests.e2e.web_test_minute; from segcli.main import main; "
           "raise SystemExit(main(sys.argv[1:]))")
_WEB_LINE = re.compile(r"web interface on (https://\S+/) \(HTTP on ([\d.]+):(\d+) redirects")
STARTUP_TIMEOUT = 60.0
PASSWORD = "ironport"


@dataclass
class WebAppliance:
    """One running ``segcli lab`` with its HTTPS server and HTTP redirector."""

    process: subprocess.Popen[str]
    data_dir: Path
    url: str
    http_port: int
    lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, data_dir: Path, *, minute: float | None = None) -> WebAppliance:
        env = segcli_env()
        env.pop("SEGCLI_E2E_WEB_MINUTE", None)
        if minute is not None:
            env["SEGCLI_E2E_WEB_MINUTE"] = str(minute)
        process = subprocess.Popen(
            [sys.executable, "-c", PRELOAD, "--data", str(data_dir), "lab", "--smtp",
             "127.0.0.1:0", "--ssh", "127.0.0.1:0", "--https", "127.0.0.1:0", "--http",
             "127.0.0.1:0"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
        lines: list[str] = []
        found = None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise AssertionError("segcli ended before its web interface started:\n"
                                     + "".join(lines))
            lines.append(line)
            found = found or _WEB_LINE.search(line)
            if found and line.startswith("Send test mail:"):  # the banner's last line
                break
        else:
            process.kill()
            raise AssertionError("segcli did not start in time:\n" + "".join(lines))
        appliance = cls(process, data_dir, found[1], int(found[3]), lines)
        threading.Thread(target=appliance._drain, daemon=True).start()
        return appliance

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def cli(self, script: str) -> str:
        """Run *script* in a plain console attached to this appliance; its output."""
        result = run_segcli(self.data_dir, script)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless chromium for the module (Debian's: Playwright downloads none)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser):
    """A browser context of its own (own cookies) per test, the appliance's self-signed
    certificate accepted; ``context.dialogs`` collects every alert() a page raised (a test
    of escaping asserts it stays empty), each dismissed."""
    context = browser.new_context(ignore_https_errors=True)
    dialogs: list[str] = []
    context.on("page", lambda page: page.on("dialog", lambda d: (dialogs.append(d.message),
                                                                 d.dismiss())))
    context.dialogs = dialogs
    try:
        yield context
    finally:
        context.close()
