"""Wrong SSH passwords against a real ``segcli`` with the product's pauses (1, 2, 4 ...
seconds per source): guesses sent at once on separate connections wait one after
another, while the appliance's local console, which has no login and never meets the
SSH throttle, goes on working, and the administrator logs in over SSH from another
address (waiting at most the account's short pause, never behind the guesses)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.ssh_fixtures import PASSWORD, password_login

GUESSES = 3
#: The product's pauses for three wrong passwords from one address, one after another.
PAUSES = 1.0 + 2.0 + 4.0


def test_guesses_wait_in_turn_while_the_console_and_the_owner_get_in(spawn, tmp_path):
    errors = tmp_path / "segcli.stderr"
    console = spawn(stderr=errors).started()
    port = int(re.search(r"SSH server on 127\.0\.0\.1:(\d+)", errors.read_text())[1])
    with ThreadPoolExecutor(GUESSES) as pool:
        started = time.monotonic()
        results = list(pool.map(lambda n: password_login(port, f"guess-{n}"), range(GUESSES)))
        elapsed = time.monotonic() - started
    assert results == [False] * GUESSES
    assert elapsed >= PAUSES, elapsed
    # admin's account is within its pause now: the console, logged in by being there,
    # runs commands as ever.
    assert "Current Version" in console.run("version")
    assert password_login(port, PASSWORD, source="127.0.0.2")
    console.command("quit")
    assert console.wait_exit() == 0
