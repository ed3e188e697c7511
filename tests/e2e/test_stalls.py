"""What one read-only SSH user sends must not stall the mail: a real appliance, a real SSH
client doing something expensive, and an SMTP client timing the listener's 220 greeting
all the while (issue 9, "Hardening", items 2 and 3).

Before the fixes, a one-megabyte command line stalled SMTP accepts for 13 s (``shlex``
is quadratic and ran on the event loop), and ``grep -e '(a+)+b'`` over a crafted log line
for 22 s (Python's ``re`` backtracks exponentially and holds the GIL).  The bound below
is generous (the greeting normally takes milliseconds) and catches any stall of seconds.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from commands.command_line import MAX_COMMAND_LINE
from engine.observe.log_files import mail_log_directory
from engine.observe.mail_log import CURRENT
from segcli.ssh.lines import MAX_LINE
from tests.e2e.ssh_fixtures import SshAppliance

T = TypeVar("T")

#: The longest an SMTP greeting may take while the SSH user works; a stall took 12-22 s.
GREETING_BOUND = 2.0
VIEWER, VIEWER_PASSWORD = "viewer", "viewer-password"
#: ``(a+)+b`` backtracks 2**28 ways on this before failing (Python's re: about 20 s).
CRAFTED = "a" * 28 + "!"


@pytest.fixture(scope="module")
def appliance(ssh_appliance: SshAppliance) -> SshAppliance:
    """The module's appliance with a read-only user: the attacks need no privilege."""
    status, output = ssh_appliance.exec(
        f'userconfig add {VIEWER} "Read Only" readonly {VIEWER_PASSWORD}; commit viewer')
    assert status == 0, output
    return ssh_appliance


def greeting_delay(port: int) -> float:
    """Seconds from connecting to the listener until its 220 greeting has arrived."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        reply = connection.recv(512)
    assert reply.startswith(b"220"), reply
    return time.monotonic() - started


def while_timing_greetings(appliance: SshAppliance, action: Callable[[], T]
                           ) -> tuple[T, float, float]:
    """Run *action* in a thread while SMTP greetings are timed one after another;
    return its result, how long it took, and the slowest greeting seen meanwhile."""
    outcome: dict[str, object] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            outcome["result"] = action()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        outcome["took"] = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    slowest = greeting_delay(appliance.smtp_port)
    while worker.is_alive():
        slowest = max(slowest, greeting_delay(appliance.smtp_port))
        time.sleep(0.02)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"], outcome["took"], slowest  # type: ignore[return-value]


def as_viewer(appliance: SshAppliance, command: str) -> Callable[[], tuple[int, str]]:
    return lambda: appliance.exec(command, user=VIEWER, password=VIEWER_PASSWORD)


# -- item 2: one long line ---------------------------------------------------------------------
def test_a_megabyte_exec_line_is_refused_and_smtp_keeps_answering(appliance):
    line = "status " + "A" * 1_000_000
    (status, output), took, slowest = while_timing_greetings(appliance, as_viewer(appliance, line))
    assert slowest < GREETING_BOUND, f"SMTP greeting took {slowest:.1f} s (command: {took:.1f} s)"
    assert status == 1
    assert output == ("Invalid arguments when processing: the command line is 1,000,007 "
                      f"characters long; the limit is {MAX_COMMAND_LINE:,}.\n")


def test_a_megabyte_line_in_a_shell_without_pty_is_refused_and_the_session_goes_on(appliance):
    """The channel's line reader keeps at most a bounded piece of the line, the session
    refuses it unparsed, and the next command runs."""
    def shell() -> str:
        client = appliance.paramiko(user=VIEWER, password=VIEWER_PASSWORD)
        try:
            channel = client.get_transport().open_session()
            channel.settimeout(60)
            channel.invoke_shell()
            channel.sendall(b"status " + b"A" * 1_000_000 + b"\nversion\n")
            channel.shutdown_write()
            received = b""
            while data := channel.recv(65536):
                received += data
            return received.decode()
        finally:
            client.close()

    output, took, slowest = while_timing_greetings(appliance, shell)
    assert slowest < GREETING_BOUND, f"SMTP greeting took {slowest:.1f} s (session: {took:.1f} s)"
    # The transcript echoes the line as the reader kept it (at most MAX_LINE characters).
    assert ("\nInvalid arguments when processing: the command line is "
            f"{MAX_LINE:,} characters long; the limit is {MAX_COMMAND_LINE:,}.\n") in output
    kept = MAX_LINE - len("status ")
    assert "A" * kept in output and "A" * (kept + 1) not in output
    assert "Current Version" in output


# -- item 3: a regular expression that backtracks --------------------------------------------------
@pytest.fixture(scope="module")
def crafted_log(appliance: SshAppliance) -> SshAppliance:
    """The mail log gets a line on which ``(a+)+b`` backtracks, and a subject line with
    the same text for findevent."""
    current = mail_log_directory(appliance.data_dir) / CURRENT
    with open(current, "a", encoding="utf-8") as log:
        log.write(f"Mon Jan  1 00:00:00 2024 Info: {CRAFTED}\n"
                  f'Mon Jan  1 00:00:01 2024 Info: MID 999999 Subject "{CRAFTED}"\n')
    return appliance


@pytest.mark.parametrize("command, answer", [
    ("grep -e '(a+)+b' -c mail_logs", "0\n"),
    ("grep -e '(a+)+b' mail_logs", "No results were found.\n"),
    ("findevent -s '(a+)+b'", "\nNo matching message IDs\n"),
])
def test_a_backtracking_regex_does_not_stall_mail(crafted_log, command, answer):
    (status, output), took, slowest = while_timing_greetings(crafted_log,
                                                             as_viewer(crafted_log, command))
    assert slowest < GREETING_BOUND, f"SMTP greeting took {slowest:.1f} s (command: {took:.1f} s)"
    assert (status, output) == (0, answer)
