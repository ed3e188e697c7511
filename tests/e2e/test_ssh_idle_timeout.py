"""The CLI idle timeout over real SSH clients: configured with ``adminaccessconfig``
(committed, as a person would), stated by the login banner's NOTE, and enforced: a shell
that keeps getting input, or runs a command, stays; one left idle at its prompt or at a
question is closed, its uncommitted changes discarded.

The appliance's smallest timeout is 5 minutes, so this appliance's minutes last one
second each (``SshAppliance.start(minute=...)``, tests/e2e/ssh_test_commands.py): the
configured value is what the sessions use, only the clock unit is shorter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pexpect
import pytest

from tests.e2e.pty_console import CTRL_C
from tests.e2e.ssh_fixtures import HOST, PASSWORD, PROMPT, SshAppliance
from tests.e2e.test_ssh_openssh import login
from tests.e2e.test_ssh_paramiko import Shell, hostname_of

MINUTE = 1.0  # seconds: the timeout of 5 "minutes" below lasts 5 s
NOTE = ("NOTE: This session will expire if left idle for 5 minutes. Any uncommitted "
        "configuration changes will be lost. Commit the configuration changes as soon as "
        "they are made.")


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshAppliance]:
    appliance = SshAppliance.start(tmp_path_factory.mktemp("idle") / "data", minute=MINUTE)
    try:
        status, output = appliance.exec('adminaccessconfig timeout 5; commit "idle timeout"')
        assert status == 0, output
        yield appliance
    finally:
        assert appliance.stop() == 0, "".join(appliance.lines)


def test_the_configured_timeout_is_saved_in_the_configuration(appliance):
    status, output = appliance.exec("showconfig n")
    assert status == 0
    assert "<admin_access>\n    <cli_timeout>5</cli_timeout>\n  </admin_access>" \
        in output.replace("\r\n", "\n")


def test_openssh_shell_stays_while_used_and_closes_when_left_idle(appliance):
    console = login(appliance, log_level="INFO")
    console.expect("password:")
    console.child.sendline(PASSWORD)
    console.expect("Last login:")
    console.expect(NOTE)
    console.started()
    # Input more often than the timeout keeps the shell, well past 5 "minutes".
    until = time.monotonic() + 8 * MINUTE
    while time.monotonic() < until:
        console.command("version")
        console.prompt()
        time.sleep(MINUTE)
    # A command at work without asking anything keeps it too.
    console.command("e2esleep")
    console.expect("Running; press Ctrl-C to stop.")
    time.sleep(8 * MINUTE)
    console.keys(CTRL_C)
    console.prompt()
    # Left idle at the prompt with a change pending: closed, the change discarded.
    console.command("sethostname idle.example.com")
    console.prompt()
    idle_since = time.monotonic()
    console.expect("the session ended with uncommitted changes; they were discarded.",
                   timeout=30 * MINUTE)
    console.expect("Session expired: idle for 5 minutes.")
    console.expect("Connection to 127.0.0.1 closed.")
    console.child.expect(pexpect.EOF)
    assert time.monotonic() - idle_since >= 5 * MINUTE - 0.5  # not before the timeout
    console.child.close()
    # ended at the prompt as after Ctrl-D; the status is 1 as then: e2esleep was interrupted
    assert console.child.exitstatus == 1
    assert hostname_of(appliance) == HOST


def test_paramiko_shell_left_at_a_question_is_closed(appliance):
    client = appliance.paramiko()
    try:
        shell = Shell(client.invoke_shell())  # vt100: the plain renderer
        assert NOTE in shell.read_until(PROMPT)
        shell.send("sethostname\n")
        shell.read_until("[]> ")
        rest = shell.rest()  # the server ends the session by itself
        assert "Session expired: idle for 5 minutes." in rest
        # the question never got its answer: that command did not complete, and the shell
        # says so as it does for any question the input ended at (status 1)
        assert shell.channel.recv_exit_status() == 1
    finally:
        client.close()
    assert hostname_of(appliance) == HOST
