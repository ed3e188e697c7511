"""OpenSSH's ``ssh`` against a real appliance: an interactive login with a pty (under
pexpect), exec requests and their exit statuses, ``ssh -T`` with a piped script, wrong
passwords, and host keys that stay the same across a restart."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess

import pexpect

from tests.conftest import REPO, SEGCLI, segcli_env
from tests.e2e.pty_console import CTRL_C, Segcli
from tests.e2e.ssh_fixtures import HOST, PASSWORD, SshAppliance

TIMEOUT = 45


def login(appliance: SshAppliance, *args: str, key=None, rows: int = 40, columns: int = 160,
          log_level: str = "ERROR") -> Segcli:
    """``ssh`` under a pexpect pty (so ssh asks for a pty), wrapped in the console driver
    the local-console tests use (prompt, command, expect, screen text)."""
    argv = appliance.openssh(*args, key=key)
    argv[argv.index("LogLevel=ERROR")] = f"LogLevel={log_level}"
    log = io.StringIO()
    child = pexpect.spawn(argv[0], argv[1:], env={**segcli_env(), "TERM": "xterm-256color"},
                          encoding="utf-8", codec_errors="replace", dimensions=(rows, columns),
                          timeout=TIMEOUT)
    child.logfile_read = log
    return Segcli(child, log, cpr=False)


def ssh(appliance: SshAppliance, *args: str, key, stdin: bytes = b"",
        options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    argv = appliance.openssh(*args, key=key)
    argv[1:1] = options
    # A session of its own: no controlling terminal for ssh to ask a password on.
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=TIMEOUT,
                          start_new_session=True)


def hostname_of(appliance: SshAppliance, key) -> str:
    result = ssh(appliance, "showconfig n", key=key)
    return re.search(r"<hostname>([^<]*)</hostname>", result.stdout.decode())[1]


# -- interactive ------------------------------------------------------------------------------

def test_interactive_login_prompt_command_dialog_ctrl_c_resize_and_quit(ssh_appliance,
                                                                       client_key):
    console = login(ssh_appliance, key=client_key, log_level="INFO")
    console.expect("Last login:")
    console.started()
    console.command("tophosts 1")
    console.expect("the.tdc.queue")
    console.prompt()
    # A dialog, left with Ctrl-C at its question: back at the prompt, nothing recorded.
    console.command("sethostname")
    console.expect("Enter the new hostname.")
    console.keys(CTRL_C)
    console.prompt()
    # Ctrl-C cancels a running command, not the session.
    console.command("e2esleep")
    console.expect("Running; press Ctrl-C to stop.")
    console.keys(CTRL_C)
    console.prompt()
    console.command("e2eterm")
    console.expect("terminal=ChannelPromptTerminal width=160 interactive=True role=admin")
    console.prompt()
    console.child.setwinsize(30, 100)  # SIGWINCH: ssh sends a window-change request
    assert _width_seen(console, 100)
    console.command("showchanges")
    console.expect("No changes have been made since the last commit.")
    console.prompt()
    console.command("quit")
    console.expect("Connection to 127.0.0.1 closed.")
    console.child.expect(pexpect.EOF)
    console.child.close()
    assert console.child.exitstatus == 0
    assert "Traceback" not in console.text


def _width_seen(console: Segcli, width: int, tries: int = 20) -> bool:
    """Ask the server for the width it follows until it says *width* (ssh sends the
    window change on its own time, so the first answer may still be the old size)."""
    for _ in range(tries):
        console.command("e2eterm")
        seen = int(re.search(r"width=(\d+)", console.expect(" interactive=")
                             + console.child.after)[1])
        console.prompt()
        if seen == width:
            return True
    return False


def test_a_dialog_answered_and_the_prompt_following_a_commit(ssh_appliance, client_key):
    console = login(ssh_appliance, key=client_key)
    console.started()
    console.command("sethostname")
    console.expect("Enter the new hostname.")
    console.answer("pty.example.com")
    console.prompt()
    console.command("commit")
    console.expect("Please enter some comments describing your changes:")
    console.answer("over ssh with a pty")
    console.expect("[Y]>")
    console.answer("n")
    console.expect("Changes committed")
    console.prompt("pty.example.com")
    console.command("sethostname " + HOST)
    console.prompt("pty.example.com")
    console.command("commit back")
    console.prompt()
    console.keys("\x04")  # Ctrl-D at the prompt: quit
    console.child.expect(pexpect.EOF)
    console.child.close()
    assert console.child.exitstatus == 0


def test_password_login_and_wrong_password_refused(ssh_appliance):
    console = login(ssh_appliance)
    console.expect("password:")
    console.child.sendline("not-the-password")
    console.expect("Permission denied")
    console.child.expect(pexpect.EOF)
    console.child.close()
    assert console.child.exitstatus == 255

    console = login(ssh_appliance)
    console.expect("password:")
    console.child.sendline(PASSWORD)
    console.expect("Last login:")
    console.started()
    console.command("quit")
    console.child.expect(pexpect.EOF)


def test_no_account_without_credentials(ssh_appliance):
    argv = ssh_appliance.openssh("version")
    argv[1:1] = ["-o", "PreferredAuthentications=none", "-o", "BatchMode=yes"]  # before the host
    # A session of its own: even a wrong option could not make ssh ask on the user's terminal.
    result = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    assert result.returncode == 255
    assert b"Permission denied" in result.stderr
    assert b"Current Version" not in result.stdout


# -- exec --------------------------------------------------------------------------------------

def test_exec_runs_the_commands_without_a_banner_and_reports_success(ssh_appliance, client_key):
    result = ssh(ssh_appliance, "tophosts 1; version", key=client_key)
    output = result.stdout.decode()
    assert result.returncode == 0, output + result.stderr.decode()
    assert "the.tdc.queue" in output and "Current Version" in output
    assert "Last login" not in output and f"{HOST}>" not in output
    assert "\r" not in output  # no pty: lines end as in a pipe


def test_exec_exit_status_is_non_zero_when_a_command_fails(ssh_appliance, client_key):
    result = ssh(ssh_appliance, "version; nosuchcommand; tophosts 1", key=client_key)
    output = result.stdout.decode()
    assert result.returncode == 1
    assert "Unknown command or missing feature key: nosuchcommand" in output
    assert "the.tdc.queue" in output  # the commands after the failed one still ran
    result = ssh(ssh_appliance, "sethostname 'bad;name'", key=client_key)
    assert result.returncode == 1
    assert hostname_of(ssh_appliance, client_key) == HOST


def test_exec_questions_are_answered_from_stdin(ssh_appliance, client_key):
    result = ssh(ssh_appliance, "saveconfig", key=client_key, stdin=b"n\n")
    assert result.returncode == 0, result.stdout.decode()
    saved = re.search(r"The file (\S+) has been saved", result.stdout.decode())[1]
    assert (ssh_appliance.data_dir / "configuration" / saved).is_file()
    # Nothing to answer with: the question meets the end of input and the command fails.
    result = ssh(ssh_appliance, "saveconfig", key=client_key, options=("-n",))
    assert result.returncode == 1


def test_exec_with_a_pty_uses_the_plain_renderer(ssh_appliance, client_key):
    console = login(ssh_appliance, "-t", "e2eterm; nosuchcommand", key=client_key)
    console.expect("terminal=ExecTerminal width=160")
    console.child.expect(pexpect.EOF)
    console.child.close()
    assert console.child.exitstatus == 1
    assert "\x1b[" not in console.raw


def test_an_scp_form_that_cannot_be_served_is_refused_clearly(ssh_appliance, client_key):
    result = ssh(ssh_appliance, "scp -r -f /configuration", key=client_key)
    assert result.returncode == 1
    assert b"scp copies single files into and out of /configuration" in result.stderr


# -- without a pty -------------------------------------------------------------------------------

def test_piped_script_without_a_pty(ssh_appliance, client_key):
    script = (b"sethostname\nscript.example.com\nshowchanges\nclearchanges\ny\nsaveconfig\nn\n"
              b"tophosts 1\n")
    result = ssh(ssh_appliance, key=client_key, stdin=script, options=("-T",))
    output = result.stdout.decode()
    assert result.returncode == 0, output
    assert output.index("Last login:") < output.index(f"{HOST}> sethostname")
    assert "Enter the new hostname.\n[]> script.example.com\n" in output
    assert "script.example.com" in output.split("showchanges", 1)[1]
    assert "[Y]> n\n\nThe file " in output
    assert "the.tdc.queue" in output
    assert output.endswith(f"{HOST}> \n")  # the end of input ends the session
    assert hostname_of(ssh_appliance, client_key) == HOST


def test_line_ends_and_garbage_without_a_pty(ssh_appliance, client_key):
    script = b"version\r\ntophosts 1\r\0\xff\xfe\x00\x1b[A garbage\r\n\r\nshowchanges"
    result = ssh(ssh_appliance, key=client_key, stdin=script, options=("-T",))
    output = result.stdout.decode()
    assert result.returncode == 1  # the garbage line is an unknown command
    assert output.count(f"{HOST}> ") == 6  # each line end counted once, the last line too
    assert "Current Version" in output and "the.tdc.queue" in output
    assert "Unknown command or missing feature key: \ufffd\ufffd[A" in output
    assert "No changes have been made since the last commit." in output
    assert ssh(ssh_appliance, "version", key=client_key).returncode == 0


# -- host keys and startup --------------------------------------------------------------------

def _host_keys(appliance: SshAppliance) -> set[str]:
    result = subprocess.run(["ssh-keyscan", "-p", str(appliance.port), "-t", "ed25519,rsa",
                             "127.0.0.1"], capture_output=True, text=True, timeout=TIMEOUT)
    return {line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.strip()}


def test_host_keys_are_kept_across_restarts(tmp_path):
    first = SshAppliance.start(tmp_path / "data")
    try:
        keys = _host_keys(first)
    finally:
        assert first.stop() == 0
    assert {key.split()[0] for key in keys} == {"ssh-ed25519", "ssh-rsa"}
    ssh_dir = tmp_path / "data" / "ssh"
    for name in ("ssh_host_ed25519_key", "ssh_host_rsa_key"):
        assert os.stat(ssh_dir / name).st_mode & 0o777 == 0o600
    second = SshAppliance.start(tmp_path / "data")
    try:
        assert _host_keys(second) == keys
        assert second.fingerprints == first.fingerprints
    finally:
        assert second.stop() == 0
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(ssh_dir / "ssh_host_ed25519_key.pub")],
                                 capture_output=True, text=True, check=True).stdout.split()[1]
    assert fingerprint in first.fingerprints


def test_an_ssh_address_in_use_is_a_clear_startup_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*SEGCLI, "--data", str(tmp_path / "data"), "--ssh",
                                 f"127.0.0.1:{port}"], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=90, env=segcli_env(),
                                cwd=REPO)
    assert result.returncode == 2
    assert f"segcli: cannot listen for SSH on 127.0.0.1:{port}" in result.stderr
