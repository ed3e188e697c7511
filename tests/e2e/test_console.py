"""The interactive console end to end: a real ``segcli`` under a pty, driven with pexpect.

Prompts, completion, history, the AsyncOS dialog conventions, Ctrl-C and Ctrl-D,
commit and quit, persistence across restarts, the bottom toolbar, and the plain
renderer's promise of no escape sequences when no person is at a terminal.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess

import pexpect
import pytest
from pexpect.popen_spawn import PopenSpawn

from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env
from tests.e2e.pty_console import (
    ACCEPTED,
    CPR_REQUEST,
    CTRL_C,
    CTRL_D,
    START_TIMEOUT,
    TAB,
    TIMEOUT,
    UP,
)

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
NOTHING_PENDING = "No changes have been made since the last commit."


def test_prompt_help_and_version(spawn):
    console = spawn().started()
    listing = console.run("help")
    assert "tdcconfig" in listing and "Configure the Threat Defense Connector" in listing
    assert "tdcconfig enable <intake address>" in console.run("help tdcconfig")
    version = console.run("version")
    assert "Current Version" in version and "Version:      15.5.1-055" in version
    console.command("quit")
    assert console.wait_exit() == 0


# -- completion ----------------------------------------------------------------------
def test_tab_completes_command_and_sub_command(spawn):
    console = spawn().started()
    console.keys("tdcc" + TAB)
    console.expect_screen("tdcconfig")  # drawn whole, or "onfig" after the echoed "tdcc"
    console.keys(" e" + TAB)
    console.expect_screen("tdcconfig enable")
    console.command(f" {INTAKE}")  # the line now reads "tdcconfig enable <address>"
    console.prompt()
    assert f"Threat Defense Connector: enabled, intake address {INTAKE}" in console.run("showchanges")


def test_tab_completes_a_menu_choice(spawn):
    console = spawn().started()
    console.command("tdcconfig")
    console.expect("- SETUP - ")
    console.expect("[]>")
    console.keys("se" + TAB)
    console.expect("SETUP")
    console.answer("")  # Enter takes the completed word
    console.expect("Would you like to enable the Threat Defense Connector? [N]>")


# -- history -------------------------------------------------------------------------
def test_history_is_kept_per_user_across_runs(spawn, data_dir):
    first = spawn().started()
    first.run("tdcconfig print")
    first.run("version")
    first.keys(CTRL_D)  # leaves without a "quit" line in the history
    assert first.wait_exit() == 0
    assert (data_dir / "history" / "admin").read_text().count("version") == 1

    second = spawn().started()
    second.keys(UP)
    second.expect("version")
    second.keys(UP)
    second.expect("tdcconfig print")
    second.command("")  # Enter runs the recalled line
    assert "Threat Defense Connector Settings" in second.expect("mail1.example.com>")
    second.command("quit")
    second.wait_exit()

    other = spawn("--user", "operator").started()  # another user has a history of their own
    other.keys(UP + "\r")
    other.expect(ACCEPTED)
    other.prompt()
    other.command("quit")
    other.wait_exit()
    assert "version" not in (data_dir / "history" / "operator").read_text()


# -- dialog conventions --------------------------------------------------------------
def test_defaults_wrong_answers_and_blank_at_a_menu(spawn):
    console = spawn().started()
    console.command("tdcconfig")
    console.expect("[]>")
    console.answer("setup")
    console.expect("Would you like to enable the Threat Defense Connector? [N]>")
    console.answer("y")
    console.expect("Enter the Default Message Intake Address")
    console.expect("[]>")
    console.answer("not-an-address")
    console.expect("An email address is a localname")
    console.expect("[]>")  # asked again
    console.answer(INTAKE)
    console.expect("Choose the operation you want to perform:")  # back at the menu
    console.expect("[]>")
    console.answer("")  # a blank answer leaves the menu
    console.prompt()
    assert INTAKE in console.run("showchanges")

    # The session's own change is now the default, and Enter accepts each default.
    console.command("tdcconfig")
    console.expect("[]>")
    console.answer("SETUP")
    console.expect("Would you like to enable the Threat Defense Connector? [Y]>")
    console.answer("")
    console.expect(f"[{INTAKE}]>")
    console.answer("")
    console.expect("[]>")
    console.answer("")
    console.prompt()
    assert f"2. Threat Defense Connector: enabled, intake address {INTAKE}" in console.run("showchanges")


def test_ctrl_c_at_a_question_abandons_the_command(spawn):
    console = spawn().started()
    console.command("sethostname")
    console.expect("Enter the new hostname.")
    console.keys("gw.exa")
    console.keys(CTRL_C)
    console.expect(ACCEPTED)
    console.prompt()
    assert NOTHING_PENDING in console.run("showchanges")

    console.command("tdcconfig")  # deeper: menu, then a yes/no question
    console.answer("setup")
    console.expect("[N]>")
    console.answer("y")
    console.expect("Enter the Default Message Intake Address")
    console.keys(CTRL_C)
    console.prompt()
    assert NOTHING_PENDING in console.run("showchanges")


def test_ctrl_c_at_the_prompt_gives_a_new_prompt(spawn):
    console = spawn().started()
    console.keys("versi")
    console.keys(CTRL_C)
    console.expect(ACCEPTED)
    console.prompt()
    out = console.run("showchanges")  # the abandoned "versi" is not part of this line
    assert NOTHING_PENDING in out and "Unknown command" not in out
    assert console.child.isalive()


def test_ctrl_c_cancels_a_running_command(spawn):
    """SIGINT reaches the session's handler: prompt_toolkit, told handle_sigint=False,
    leaves it alone while prompts come and go."""
    console = spawn(preload="tests.e2e.slow_command").started()
    os.kill(console.child.pid, signal.SIGINT)  # at the idle prompt: nothing to cancel
    assert "Current Version" in console.run("version")
    for _ in range(2):  # and again after another prompt has come and gone
        console.command("e2esleep")
        console.expect("Running; press Ctrl-C to stop.")
        console.keys(CTRL_C)  # the terminal is not in raw mode now: this is SIGINT
        console.prompt()
    assert NOTHING_PENDING in console.run("showchanges")
    console.command("quit")
    assert console.wait_exit() == 0


def test_ctrl_d_ends_the_session(spawn):
    console = spawn().started()
    console.keys(CTRL_D)
    assert console.wait_exit() == 0


def test_ctrl_d_with_pending_changes_asks_like_quit(spawn):
    console = spawn().started()
    console.run("sethostname gw.example.com")
    console.keys(CTRL_D)
    console.expect("You have 1 uncommitted change(s). If you exit now, they will be lost.")
    console.expect("Are you sure you wish to exit? [N]>")
    console.answer("")  # no: stay, with the change still pending
    console.prompt()
    assert "gw.example.com" in console.run("showchanges")
    console.keys(CTRL_D)
    console.expect("Are you sure you wish to exit? [N]>")
    console.answer("y")
    assert console.wait_exit() == 0


# -- commit, quit, persistence -------------------------------------------------------
def test_commit_quit_and_restart(spawn):
    console = spawn().started()
    console.run("sethostname gw.example.com")
    console.command("commit")
    console.expect("Please enter some comments describing your changes:")
    console.expect("[]>")
    console.answer("rename the gateway")
    console.expect("Do you want to save the current configuration for rollback? [Y]>")
    console.answer("")
    console.expect("Changes committed: ")
    console.prompt("gw.example.com")  # the prompt shows the committed name at once

    console.run("tdcconfig enable " + INTAKE, host="gw.example.com")  # left pending
    console.command("quit")
    console.expect("You have 1 uncommitted change(s). If you exit now, they will be lost.")
    console.expect("Are you sure you wish to exit? [N]>")
    console.answer("n")
    console.prompt("gw.example.com")
    console.command("quit")
    console.expect("Are you sure you wish to exit? [N]>")
    console.answer("Y")
    assert console.wait_exit() == 0

    again = spawn().started("gw.example.com")
    assert NOTHING_PENDING in again.run("showchanges", host="gw.example.com")
    assert "Threat Defense Connector:         Disabled" in again.run("tdcconfig print",
                                                                   host="gw.example.com")


# -- the bottom toolbar --------------------------------------------------------------
def test_bottom_toolbar_shows_hostname_and_pending_changes(spawn):
    console = spawn(cpr=True).started()
    console.expect("mail1.example.com | admin | no uncommitted changes | TDC disabled")
    console.run("sethostname gw.example.com")
    console.expect("mail1.example.com | admin | 1 uncommitted change(s)")
    console.run(f"tdcconfig enable {INTAKE}")
    console.expect("| 2 uncommitted change(s)")
    console.command('commit "both"')
    console.expect(f"gw.example.com | admin | no uncommitted changes | TDC enabled → {INTAKE}")
    assert console.text.rstrip().endswith(  # the last line on the screen
        f" gw.example.com | admin | no uncommitted changes | TDC enabled → {INTAKE}")


# -- plain renderer: no escape sequences ----------------------------------------------
def test_piped_stdin_writes_no_escape_sequences(data_dir):
    result = run_segcli(data_dir, f"help\ntdcconfig\nsetup\ny\n{INTAKE}\n\nshowchanges\nquit\ny\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "Would you like to enable the Threat Defense Connector? [N]> y\n" in result.stdout


def _raw_pty_session(data_dir, *args: str, term: str) -> bytes:
    """Use a plain-mode segcli at a pty (Ctrl-C at the prompt and at a question, a
    command, Ctrl-D); return every byte it wrote."""
    env = segcli_env()
    env["TERM"] = term
    env.pop("PROMPT_TOOLKIT_NO_CPR", None)  # the plain renderer must not need telling
    child = pexpect.spawn(SEGCLI[0], [*SEGCLI[1:], "--data", str(data_dir), *args], env=env,
                          cwd=str(REPO), dimensions=(40, 160), timeout=TIMEOUT)
    child.logfile_read = seen = io.BytesIO()
    try:
        child.expect_exact(b"mail1.example.com> ", timeout=START_TIMEOUT)  # a literal space
        child.send(CTRL_C)  # a plain terminal at its prompt: a fresh prompt
        child.expect_exact(b"^C\r\nmail1.example.com> ")
        child.send(b"version\r")
        child.expect_exact(b"Current Version")
        child.expect_exact(b"mail1.example.com> ")
        child.send(b"sethostname\r")
        child.expect_exact(b"[]> ")
        child.send(CTRL_C)  # cancels the question
        child.expect_exact(b"mail1.example.com> ")
        child.send(CTRL_D)  # end of input at a plain terminal
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 1, seen.getvalue()  # the cancelled command counts as failed
        return seen.getvalue()
    finally:
        if child.isalive():
            child.close(force=True)


@pytest.mark.parametrize(("args", "term"), [((), "dumb"), (("--plain",), "xterm-256color")],
                         ids=["TERM=dumb", "--plain"])
def test_plain_terminal_writes_no_escape_sequences(data_dir, args, term):
    seen = _raw_pty_session(data_dir, *args, term=term)
    assert b"\x1b" not in seen, seen
    assert CPR_REQUEST.encode() not in seen
    assert b"Current Version" in seen


# -- listening address flags -----------------------------------------------------------
def test_listener_flags_are_accepted_at_the_console(spawn, reserve_port):
    """The console listens where its flags say (ports reserved by the test, IPv6 too)."""
    import socket

    from tests.ports import hold_port

    smtp_port = reserve_port()
    with hold_port("::1") as held:
        ssh_port = held.getsockname()[1]
        console = spawn("--smtp", f"127.0.0.1:{smtp_port}", "--ssh", f"[::1]:{ssh_port}").started()
        assert "Current Version" in console.run("version")
        with socket.create_connection(("127.0.0.1", smtp_port), timeout=TIMEOUT) as smtp:
            assert smtp.recv(64).startswith(b"220 ")
        with socket.create_connection(("::1", ssh_port), timeout=TIMEOUT) as ssh:
            assert ssh.recv(64).startswith(b"SSH-2.0-")


@pytest.mark.parametrize("args", [("--smtp", "mail.example.com"), ("--ssh", "127.0.0.1:99999"),
                                  ("--ssh", ":22")])
def test_malformed_listener_address_exits_2(data_dir, args):
    result = subprocess.run([*SEGCLI, "--data", str(data_dir), *args], input="", capture_output=True,
                            text=True, env=segcli_env(), cwd=REPO, timeout=TIMEOUT)
    assert result.returncode == 2
    flag, value = args
    assert re.search(rf'argument {flag}: "{re.escape(value)}" is not a valid address: use '
                     "HOST:PORT", result.stderr), result.stderr
    assert not (data_dir / "segcli.db").exists()  # refused before anything was opened


# -- signals ---------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_hangup_and_terminate_stop_cleanly_and_commit_nothing(spawn, data_dir, signum):
    console = spawn().started()
    console.run("sethostname gw.example.com")
    os.kill(console.child.pid, signum)
    assert console.wait_exit() == 0
    assert "Traceback" not in (data_dir / "logs" / "segcli.log").read_text()
    assert spawn().started().run("showchanges").count(NOTHING_PENDING) == 1


def test_ctrl_c_stops_a_piped_script(data_dir):
    """With no person at a terminal, SIGINT ends the script (status 130) instead of
    cancelling one command and carrying on with the next line."""
    script = PopenSpawn([*SEGCLI[:1], "-c", "import tests.e2e.slow_command; from segcli.main import "
                         "main; raise SystemExit(main())", "--data", str(data_dir)],
                        env=segcli_env(), cwd=str(REPO), timeout=TIMEOUT, encoding="utf-8")
    try:
        script.send("e2esleep\nversion\n")
        script.expect_exact("Running; press Ctrl-C to stop.", timeout=START_TIMEOUT)
        script.kill(signal.SIGINT)
        script.expect(pexpect.EOF)
        assert "Current Version" not in script.before
        assert script.wait() == 130
    finally:
        if script.proc.poll() is None:
            script.proc.kill()
            script.proc.wait()
