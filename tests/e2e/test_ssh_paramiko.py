"""paramiko against a real appliance: ``invoke_shell`` (a program's pty: plain prompts,
echo by the server), ``exec_command``, shells without a pty, and sessions that end
badly (a channel closed mid-dialog, a dropped connection) without leaving anything
behind."""

from __future__ import annotations

import re
import time

import paramiko

from tests.e2e.ssh_fixtures import HOST, PROMPT, SshAppliance

TIMEOUT = 45


class Shell:
    """A paramiko channel and everything read from it so far."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self.channel.settimeout(TIMEOUT)
        self.text = ""

    def read_until(self, text: str) -> str:
        """Read until *text* has arrived; return what came before it (and drop both).
        The channel's timeout bounds each wait."""
        while text not in self.text:
            try:
                data = self.channel.recv(65536)
            except TimeoutError:
                data = None
            if not data:
                raise AssertionError(f"waited for {text!r}; got {self.text[-2000:]!r}")
            self.text += data.decode("utf-8", "replace")
        before, _, self.text = self.text.partition(text)
        return before

    def send(self, text: str) -> None:
        self.channel.sendall(text.encode())

    def rest(self) -> str:
        """Everything until the channel closes."""
        while True:
            data = self.channel.recv(65536)
            if not data:
                return self.text
            self.text += data.decode("utf-8", "replace")


def shell(appliance: SshAppliance, **pty) -> tuple[paramiko.SSHClient, Shell]:
    client = appliance.paramiko()
    return client, Shell(client.invoke_shell(**pty))


def hostname_of(appliance: SshAppliance) -> str:
    _, output = appliance.exec("showconfig n")
    return re.search(r"<hostname>([^<]*)</hostname>", output)[1]


# -- invoke_shell ---------------------------------------------------------------------------

def test_invoke_shell_plain_prompts_echo_and_dialogs(ssh_appliance):
    client, session = shell(ssh_appliance)
    try:
        banner = session.read_until(PROMPT)
        # the appliance's order: Last login first, then the version and the Welcome line
        assert banner.index("Last login:") < banner.index("AsyncOS ") < banner.index("Welcome") \
            < banner.index("NOTE: This session will expire if left idle for 30 minutes. Any "
                           "uncommitted configuration changes will be lost. Commit the "
                           "configuration changes as soon as they are made.")
        assert "\x1b" not in banner
        session.send("e2eterm\n")
        output = session.read_until(PROMPT)
        # The server echoes what is typed; lines end with CR LF at a pty.
        assert output.startswith("e2eterm\r\n")
        assert "terminal=ChannelPlainTerminal width=80 interactive=False" in output
        session.send("saveconfig\n")
        assert "cannot be loaded using loadconfig command. [Y]> " in session.read_until("[Y]> ") \
            + "[Y]> "
        session.send("n\n")
        assert re.search(r"The file \S+\.xml has been saved", session.read_until(PROMPT))
        # Ctrl-C at a question abandons the command; Ctrl-C while typing drops the line.
        session.send("sethostname\n")
        session.read_until("[]> ")
        session.send("\x03")
        session.read_until(PROMPT)
        session.send("sethost\x03")
        assert session.read_until(PROMPT).endswith("sethost^C\r\n")
        session.send("showchanges\n")
        assert "No changes have been made" in session.read_until(PROMPT)
        # Backspace edits the line before the server sees it.
        session.send("versiom\x7fn\n")
        assert "Current Version" in session.read_until(PROMPT)
        session.send("quit\n")
        session.rest()
        assert session.channel.recv_exit_status() == 0
    finally:
        client.close()


def test_invoke_shell_follows_resizes_and_survives_a_zero_size_window(ssh_appliance):
    client, session = shell(ssh_appliance, width=0, height=0)
    try:
        session.read_until(PROMPT)
        session.send("e2eterm\n")
        assert "width=80 " in session.read_until(PROMPT)
        session.channel.resize_pty(width=132, height=50)
        session.send("e2eterm\n")
        assert "width=132 " in session.read_until(PROMPT)
    finally:
        client.close()


def test_invoke_shell_with_a_terminal_type_gets_the_interactive_renderer(ssh_appliance):
    client, session = shell(ssh_appliance, term="xterm-256color", width=120, height=40)
    try:
        session.read_until("Last login:")
        session.read_until(f"{HOST}>")
        session.send("e2eterm\r")
        assert "terminal=ChannelPromptTerminal width=120" in session.read_until(" interactive=")
        session.send("quit\r")
        session.rest()
        assert session.channel.recv_exit_status() == 0
    finally:
        client.close()


def test_plain_renderer_at_a_terminal_when_asked(ssh_appliance):
    client = ssh_appliance.paramiko()
    try:
        channel = client.get_transport().open_session()
        channel.update_environment({"SEGCLI_PLAIN": "1"})
        channel.get_pty(term="xterm-256color")
        channel.invoke_shell()
        session = Shell(channel)
        session.read_until(PROMPT)
        session.send("e2eterm\n")
        assert "terminal=ChannelPlainTerminal" in session.read_until(PROMPT)
    finally:
        client.close()


# -- exec_command -----------------------------------------------------------------------------

def test_exec_command_exit_statuses(ssh_appliance):
    status, output = ssh_appliance.exec("version; tophosts 1")
    assert status == 0 and "Current Version" in output and "the.tdc.queue" in output
    assert "Last login" not in output
    status, output = ssh_appliance.exec("nosuchcommand")
    assert status == 1 and "Unknown command or missing feature key: nosuchcommand" in output
    status, output = ssh_appliance.exec('sethostname "exec.example.com"; showchanges')
    assert status == 0 and "hostname: exec.example.com" in output
    # The exec session ended with the change uncommitted: it was dropped, and said so.
    assert "uncommitted changes; they were discarded" in output
    assert hostname_of(ssh_appliance) == HOST


# -- without a pty ------------------------------------------------------------------------------

def test_shell_without_a_pty_line_ends_garbage_and_end_of_input(ssh_appliance):
    client = ssh_appliance.paramiko()
    try:
        channel = client.get_transport().open_session()
        channel.invoke_shell()
        session = Shell(channel)
        session.read_until(PROMPT)
        # CR LF split across two packets still ends one line.
        channel.sendall(b"version\r")
        time.sleep(0.2)
        channel.sendall(b"\nsethostname\r\0")
        assert "Current Version" in session.read_until(PROMPT)
        session.read_until("[]> ")
        channel.sendall(b"nopty.example.com\r\n")
        session.read_until(PROMPT)
        channel.sendall(b"\xc3\x28\xff\x00\x07garbage\n")
        assert "Unknown command or missing feature key:" in session.read_until(PROMPT)
        channel.sendall(b"showchanges\n")
        assert "hostname: nopty.example.com" in session.read_until(PROMPT)
        channel.shutdown_write()  # end of input: the session ends, the change is dropped
        assert "they were discarded" in session.rest()
        assert channel.recv_exit_status() == 1  # the garbage line failed
    finally:
        client.close()
    assert hostname_of(ssh_appliance) == HOST


# -- sessions that end badly -----------------------------------------------------------------

def test_a_channel_closed_mid_dialog_leaves_nothing_behind(ssh_appliance):
    client, session = shell(ssh_appliance)
    try:
        session.read_until(PROMPT)
        session.send("sethostname dropped.example.com\n")
        session.read_until(PROMPT)
        session.send("commit\n")
        session.read_until("[]> ")  # the commit's comment question
        session.channel.close()
    finally:
        client.close()
    assert hostname_of(ssh_appliance) == HOST
    assert ssh_appliance.exec("version")[0] == 0


def test_pending_changes_belong_to_their_session(ssh_appliance):
    first_client, first = shell(ssh_appliance)
    second_client, second = shell(ssh_appliance)
    try:
        first.read_until(PROMPT)
        second.read_until(PROMPT)
        first.send("sethostname first.example.com\n")
        first.read_until(PROMPT)
        second.send("showchanges\n")
        assert "No changes have been made" in second.read_until(PROMPT)
        first.send("showchanges\n")
        assert "hostname: first.example.com" in first.read_until(PROMPT)
        first_client.get_transport().sock.close()  # the connection drops, no goodbye
        second.send("showchanges\n")
        assert "No changes have been made" in second.read_until(PROMPT)
    finally:
        first_client.close()
        second_client.close()
    assert hostname_of(ssh_appliance) == HOST
