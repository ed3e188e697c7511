"""The SSH and console tests as a person runs them: ``./scripts/test.sh`` typed at a terminal.

Run from a pipe (CI, an editor), an ``ssh`` that wants a password finds no terminal and
fails at once; run from a terminal, the same ``ssh`` opens ``/dev/tty``, prints
``password:`` there and waits for the person -- the suite hangs, or eats their keys.  So
every ssh/scp/sftp subprocess of the suite gets a session of its own, and every console
runs under a pty of its own or on pipes.  This test keeps it so: it runs a representative
subset of those tests under a real pseudo-terminal as their controlling terminal and checks
that they pass, that nothing asked anything on that terminal, and that they end in time.

The subset is the tests that start ``ssh`` or a console on pipes (``SELECT``); the inner
run is told it is one (``GUARD``), so this test never runs inside itself.
"""

from __future__ import annotations

import os
import re
import sys

import pexpect
import pytest

from tests.conftest import REPO

#: Set in the inner run: this module is skipped there (no recursion), whatever it selects.
GUARD = "SEGCLI_TESTS_UNDER_A_TERMINAL"
SUBSET = ["tests/e2e/test_ssh_openssh.py", "tests/e2e/test_console.py"]
#: The tests of SUBSET that start ssh, or segcli, on pipes (they inherit the terminal), and
#: the password login (ssh under a pty of its own, which must get the prompt, not us).
SELECT = "exec or piped or garbage or credentials or password or scp_form or malformed"
#: What a program asking a person at the terminal prints (OpenSSH: "admin@host's password: ",
#: "Enter passphrase for key ...:", "Are you sure you want to continue connecting (yes/no)?").
ASKING = re.compile(r"(?i)password: |passphrase|\(yes/no|continue connecting")
#: The whole inner run at most (about 25 s on a quiet machine).
TIMEOUT = 300

pytestmark = pytest.mark.skipif(GUARD in os.environ, reason="already the run under a terminal")


def test_the_ssh_and_console_tests_ask_nothing_on_the_terminal_they_run_from():
    env = {**os.environ, GUARD: "1", "TERM": "xterm-256color"}
    env.pop("PYTEST_ADDOPTS", None)
    child = pexpect.spawn(sys.executable, ["-m", "pytest", "-q", "-p", "no:cacheprovider",
                                           "-k", SELECT, *SUBSET],
                          cwd=str(REPO), env=env, encoding="utf-8", codec_errors="replace",
                          dimensions=(40, 160), timeout=TIMEOUT)
    try:
        outcome = child.expect([ASKING, pexpect.EOF, pexpect.TIMEOUT])
        seen = child.before + (child.after if outcome == 0 else "")
        if outcome != 1:
            child.sendintr()  # Ctrl-C at the terminal: pytest stops and tears its fixtures down
            child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=60)
        assert outcome != 0, f"a test asked on the terminal: {seen[-500:]!r}"
        assert outcome != 2, f"the run did not end within {TIMEOUT} s:\n{seen[-3000:]}"
    finally:
        child.close(force=True)
    summary = re.sub(r"\x1b\[[0-9;]*m", "", seen).strip().splitlines()[-1]  # pytest colours a tty
    assert child.exitstatus == 0, seen[-5000:]
    passed = re.search(r"\b(\d+) passed\b", summary)
    assert passed and int(passed[1]) >= 10, summary  # the subset ran, and only passed
    assert not re.search(r"failed|error|skipped", summary), summary
