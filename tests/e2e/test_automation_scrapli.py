"""segcli's scrapli platform (segcli/automation/scrapli_platform.py) against a real appliance,
over the system transport (OpenSSH in a pty, ``TERM=xterm-256color`` as from a desktop
terminal) and the paramiko transport: show commands, dialogs, failed responses.

The appliance runs as a user's does: the suite's environment turns prompt_toolkit's
cursor-position requests off (``PROMPT_TOOLKIT_NO_CPR``, tests/conftest.py), which would
hide what a real TERM costs a client that is no terminal; this module's appliance asks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from scrapli.driver.generic import GenericDriver

import tests.e2e.ssh_fixtures as ssh_fixtures
from segcli.automation.scrapli_platform import (
    PROMPT_PATTERN,
    QUESTION_PATTERN,
    AsyncOSDriver,
    scrapli_driver,
)
from tests.conftest import REPO, segcli_env
from tests.e2e.ssh_fixtures import HOST, PASSWORD, USER, SshAppliance

TRANSPORTS = ["system", "paramiko"]
#: Far above what ten commands take, far below scrapli's timeouts: a client held about a
#: second per command (see test_a_terminal_that_never_answers_is_asked_for_its_cursor_once)
#: fails it.
TEN_COMMANDS_SECONDS = 5.0


def _users_environment() -> dict[str, str]:
    env = segcli_env()
    env.pop("PROMPT_TOOLKIT_NO_CPR", None)
    return env


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory, client_key: Path
              ) -> Iterator[SshAppliance]:
    """The appliance, with the test run's client key registered for ``admin``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssh_fixtures, "segcli_env", _users_environment)
        started = SshAppliance.start(tmp_path_factory.mktemp("scrapli") / "data")
    try:
        public = client_key.with_suffix(".pub").read_text().strip()
        status, output = started.exec(f'userconfig sshkey add admin "{public}"; commit "key"')
        assert status == 0, output
        yield started
    finally:
        assert started.stop() == 0, "".join(started.lines)


@pytest.fixture
def real_term(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TERM a desktop terminal gives: OpenSSH passes it on in its pty request."""
    monkeypatch.setenv("TERM", "xterm-256color")


@pytest.fixture(params=TRANSPORTS)
def conn(request: pytest.FixtureRequest, appliance: SshAppliance, real_term: None
         ) -> Iterator[AsyncOSDriver]:
    with scrapli_driver("127.0.0.1", appliance.port, USER, PASSWORD, transport=request.param,
                        auth_strict_key=False, timeout_ops=30) as driver:
        yield driver
        # every test leaves the appliance as it found it
        assert driver.send_command("showchanges").result == (
            "No changes have been made since the last commit.")
        assert driver.get_prompt() == f"{HOST}>"


def test_a_terminal_that_never_answers_is_asked_for_its_cursor_once(appliance, real_term):
    """scrapli's generic driver with a real TERM gets the interactive renderer.  It asks
    where the cursor is once, at login; a terminal that never answers (a script's pty) is
    not asked again, before every prompt, and held up to a second each time for the answer."""
    log = BytesIO()
    with GenericDriver(host="127.0.0.1", port=appliance.port, auth_username=USER,
                       auth_password=PASSWORD, auth_strict_key=False, transport="system",
                       comms_prompt_pattern=PROMPT_PATTERN, channel_log=log,
                       timeout_ops=30) as generic:
        for _ in range(5):
            assert generic.send_command("version").result.endswith("Emulator:     segcli 0.1.0")
        seen = log.getvalue()  # scrapli closes its log with the connection
    assert os.environ["TERM"] == "xterm-256color"
    assert seen.count(b"\x1b[6n") == 1, seen.count(b"\x1b[6n")


def test_system_transport_with_a_key(appliance: SshAppliance, client_key: Path,
                                     real_term: None):
    with scrapli_driver("127.0.0.1", appliance.port, USER, auth_private_key=str(client_key),
                        auth_strict_key=False, timeout_ops=30) as driver:
        assert driver.transport_name == "system"
        assert driver.get_prompt() == f"{HOST}>"
        assert driver.send_command("tophosts 1").result.splitlines()[-1].split()[:2] == [
            "1", "the.tdc.queue"]


def test_show_commands(conn: AsyncOSDriver):
    assert conn.get_prompt() == f"{HOST}>"
    version = conn.send_command("version")
    status = conn.send_command("status")
    tophosts = conn.send_command("tophosts 1")
    assert not (version.failed or status.failed or tophosts.failed)
    assert "Product:      Cisco C100V Secure Email Gateway (emulated)" in version.result
    assert "System status:                 Online" in status.result.splitlines()
    assert tophosts.result.splitlines()[-1].split()[:2] == ["1", "the.tdc.queue"]
    # the plain renderer: exactly the command's output, no prompt, no escape codes
    assert all("\x1b" not in text and f"{HOST}>" not in text
               for text in (version.result, status.result, tophosts.result))


def test_commands_are_not_held(conn: AsyncOSDriver):
    start = time.monotonic()
    responses = conn.send_commands(["version", "status", "tophosts 1", "showchanges"] * 2
                                   + ["version", "status"])
    elapsed = time.monotonic() - start
    assert len(responses) == 10 and not responses.failed
    assert elapsed < TEN_COMMANDS_SECONDS, f"10 commands took {elapsed:.1f} s"


def test_send_interactive_clearchanges(conn: AsyncOSDriver):
    dialog = conn.send_interactive([("sethostname", QUESTION_PATTERN),
                                    ("scrapli.example.com", PROMPT_PATTERN)])
    assert "Enter the new hostname.\n[]> scrapli.example.com" in dialog.result
    assert conn.send_command("showchanges").result.endswith("1. hostname: scrapli.example.com")
    cleared = conn.send_interactive([("clearchanges", QUESTION_PATTERN), ("y", PROMPT_PATTERN)])
    assert not cleared.failed
    assert "Are you sure you want to clear all changes since the last commit? [Y]> y" \
        in cleared.result
    assert "Changes cleared: " in cleared.result


def test_send_interactive_commit_with_a_comment(conn: AsyncOSDriver, appliance: SshAppliance):
    comment = f"scrapli over {conn.transport_name}"
    conn.send_command("sethostname scrapli.example.com")
    committed = conn.send_interactive([
        ("commit", QUESTION_PATTERN), (comment, QUESTION_PATTERN), ("Y", PROMPT_PATTERN)])
    assert not committed.failed
    assert f"Please enter some comments describing your changes:\n[]> {comment}" \
        in committed.result
    assert "Changes committed: " in committed.result
    assert conn.get_prompt() == "scrapli.example.com>"  # the new hostname is the prompt
    # and back, with the driver's own method
    conn.send_command(f"sethostname {HOST}")
    back = conn.commit("hostname back")
    assert not back.failed and "Changes committed: " in back.result
    # rollbackconfig offers the earlier commits (not the running one) with their comments
    _, history = appliance.exec("rollbackconfig")
    assert comment in history


def test_failed_responses(conn: AsyncOSDriver):
    unknown = conn.send_command("nosuchcommand")
    assert unknown.failed
    assert unknown.result == "Unknown command or missing feature key: nosuchcommand"
    refused = conn.send_command('sethostname "not a hostname"')
    assert refused.failed and "A hostname must contain only" in refused.result
    malformed = conn.send_command("tophosts x")
    assert malformed.failed and "Invalid arguments when processing:" in malformed.result
    assert not conn.send_command("version").failed


def test_a_question_met_by_send_command(conn: AsyncOSDriver):
    """No timeout and no default taken: the question is abandoned with Ctrl-C."""
    conn.send_command("sethostname scrapli.example.com")
    asked = conn.send_command("clearchanges")
    assert asked.failed
    assert asked.result == ("Are you sure you want to clear all changes since the last "
                            "commit? [Y]>")
    assert conn.send_command("showchanges").result.endswith("1. hostname: scrapli.example.com")
    cleared = conn.clear_changes()
    assert not cleared.failed and "Changes cleared: " in cleared.result


def test_dialog_methods(conn: AsyncOSDriver):
    # nothing pending: clearchanges does not ask, and the dialog just ends
    nothing = conn.clear_changes()
    assert not nothing.failed
    assert "No changes have been made since the last commit." in nothing.result
    saved = conn.save_config()
    assert not saved.failed and "has been saved in the configuration directory." in saved.result
    # a question left unanswered is abandoned with Ctrl-C: back at the prompt, nothing kept
    abandoned = conn.send_dialog("sethostname")
    assert abandoned.failed and abandoned.result.rstrip().endswith(f"{HOST}>")
    # configuration lines run at the main prompt; a failed one discards the earlier ones
    configs = conn.send_configs(["sethostname scrapli.example.com", "nosuchcommand"],
                                stop_on_failed=True)
    assert configs.failed
    assert conn.send_command("showchanges").result == (
        "No changes have been made since the last commit.")


def test_the_readme_example(appliance: SshAppliance, real_term: None,
                            capsys: pytest.CaptureFixture[str]):
    """README "Scripting segcli", "scrapli": the example runs as written (on this port)."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("\n### scrapli\n", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    runnable = example.replace('"127.0.0.1", 2222,', f'"127.0.0.1", {appliance.port},')
    assert runnable != example
    try:
        exec(compile(runnable, "README.md", "exec"), {})  # the reader's script, as pasted
        printed = capsys.readouterr().out
    finally:
        with scrapli_driver("127.0.0.1", appliance.port, USER, PASSWORD,
                            auth_strict_key=False) as driver:
            driver.send_command(f"sethostname {HOST}")
            driver.commit("hostname back")
    assert "the.tdc.queue" in printed
    assert "Changes committed: " in printed and "gw1.example.com>" in printed


def test_a_terminal_that_answers_keeps_being_asked_and_its_answer_is_not_typed(appliance):
    """A person's terminal answers the login's cursor request: the answer is taken out of
    what they typed ahead (``version`` runs, not ``\\x1b[24;1Rversion``), and
    prompt_toolkit goes on asking before its prompts."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect("127.0.0.1", port=appliance.port, username=USER, password=PASSWORD,
                   look_for_keys=False, allow_agent=False, timeout=30)
    try:
        channel = client.invoke_shell(term="xterm-256color")
        channel.settimeout(30)
        seen, answered = b"", 0
        while b"Emulator:" not in seen or seen.count(b"\x1b[6n") < 2:
            seen += channel.recv(65536)
            while answered < seen.count(b"\x1b[6n"):  # answer each request, as a terminal
                answered += 1
                channel.send(b"\x1b[24;1R" + (b"version\r" if answered == 1 else b""))
    finally:
        client.close()
    assert b"Emulator:" in seen and b"Unknown command" not in seen
    assert seen.count(b"\x1b[6n") > 1
