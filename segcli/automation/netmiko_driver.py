"""A netmiko driver for AsyncOS (Cisco Secure Email Gateway, formerly ESA) and segcli.

netmiko 4.8 has no driver for AsyncOS (its Cisco drivers are IOS, NX-OS, XR, ASA, FTD,
WLC, APIC, Viptela, TelePresence), and netmiko discovers no plug-ins: drivers are found
in ``netmiko._dispatcher.CLASS_MAPPER`` (and the list ``platforms`` that
``ConnectHandler`` checks) and file transfer classes in ``FILE_TRANSFER_MAP`` (and
``scp_platforms``).  :func:`register` adds ``cisco_esa`` (and ``cisco_esa_ssh``, as
netmiko names every SSH driver twice) to those tables; ``import segcli.automation`` calls
it.  The name follows netmiko's ``vendor_os`` convention (``cisco_asa``, ``cisco_wlc``).

What AsyncOS is, as a netmiko device:

- The prompt is the hostname and ``> `` (``mail1.example.com> ``); a question ends in
  ``[default]> ``.  There is no enable mode and no configuration mode: configuration
  commands are ordinary commands whose changes stay pending until ``commit``.
- netmiko asks for a vt100 pty, which the appliance serves plainly (no paging, no
  colours), echoing what is typed.
- A command that fails prints the appliance's error and nothing marks it as such, so
  the driver recognises AsyncOS's errors (:data:`ERROR_LINES`) and the convention that a
  command's output opens with a blank line while an error does not, and raises
  :class:`SegcliCommandError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import posixpath
import re
import stat
from typing import Any

import paramiko  # type: ignore[import-untyped]
from netmiko.base_connection import BaseConnection
from netmiko.exceptions import NetmikoBaseException, ReadTimeout
from netmiko.scp_handler import BaseFileTransfer

from segcli.automation.parsing import parse, template_for

DEVICE_TYPE = "cisco_esa"
#: Where ``saveconfig`` writes and ``loadconfig`` reads, as SCP and SFTP show it.
CONFIGURATION_DIRECTORY = "/configuration"
#: The main prompt (any hostname: ``sethostname`` and a commit change it).
PROMPT = r"^[\w.-]+> ?$"
#: A question's last line: ``[]> ``, ``[Y]> ``, ``[1]> ``.
QUESTION = r"\[[^\]\n]*\]> ?$"
PROMPT_OR_QUESTION = rf"(?:{PROMPT}|{QUESTION})"
#: Errors any AsyncOS command may print (the first line of its output).
ERROR_LINES = re.compile(
    r"^(?:Unknown command or missing feature key: |Invalid arguments when processing"
    r"|An application fault occurred|You are not in the correct access group"
    r"|Error: |Unknown option: )", re.MULTILINE)
_SAVED = re.compile(r"The file (\S+) has been saved")
_COMMITTED = re.compile(r"^Changes committed: .*$", re.MULTILINE)
_NOTHING_TO_COMMIT = "There is no data to commit."
_CLEARED = re.compile(r"^(?:Changes cleared: .*|No changes have been made since the last commit\.)$",
                      re.MULTILINE)
CTRL_C = "\x03"
#: The module (``netmiko.ssh_dispatcher`` the attribute is the function of that name).
_dispatcher = importlib.import_module("netmiko.ssh_dispatcher")


class SegcliCommandError(NetmikoBaseException):
    """The appliance refused a command: *output* is what it printed."""

    def __init__(self, command: str, output: str, reason: str = "") -> None:
        self.command = command
        self.output = output
        message = reason or output.strip() or "no output"
        super().__init__(f"{command!r} failed: {message}")


class SegcliQuestionError(SegcliCommandError):
    """A command asked a question that nobody was there to answer (the driver cancelled
    it with Ctrl-C): use the command's one-line form, or :meth:`CiscoEsaSSH.dialog`."""


class CiscoEsaSSH(BaseConnection):
    """AsyncOS over SSH: show commands, one-line configuration commands plus ``commit``,
    and the dialogs of ``saveconfig``, ``commit`` and ``clearchanges``."""

    def session_preparation(self) -> None:
        """Wait for the first prompt after the banner (``Last login: ...``, the version,
        the Welcome and idle-timeout notes) and take the hostname as the base prompt.
        Nothing pages under netmiko's vt100 pty, so there is no paging to disable."""
        self.read_until_pattern(pattern=PROMPT, re_flags=re.MULTILINE, read_timeout=20)
        self.set_base_prompt()

    def set_base_prompt(self, pri_prompt_terminator: str = ">", alt_prompt_terminator: str = ">",
                        delay_factor: float = 1.0, pattern: str | None = None) -> str:
        return super().set_base_prompt(pri_prompt_terminator, alt_prompt_terminator,
                                       delay_factor, pattern or r">")

    def disable_paging(self, *args: Any, **kwargs: Any) -> str:
        """The plain renderer netmiko gets never pages: nothing to send."""
        return ""

    # -- no enable mode, no configuration mode ------------------------------------------
    def check_enable_mode(self, check_string: str = "") -> bool:
        return True

    def enable(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def exit_enable_mode(self, exit_command: str = "") -> str:
        return ""

    def check_config_mode(self, check_string: str = "", pattern: str = "",
                          force_regex: bool = False) -> bool:
        """AsyncOS has no configuration mode: every command may configure, and changes
        wait for ``commit``; so the session is always "in" it."""
        return True

    def config_mode(self, config_command: str = "", pattern: str = "", re_flags: int = 0) -> str:
        return ""

    def exit_config_mode(self, exit_config: str = "", pattern: str = "") -> str:
        return ""

    def cleanup(self, command: str = "quit") -> None:
        """Leave with ``quit``; pending changes are discarded by the appliance, with its
        warning, as on the appliance."""
        with contextlib.suppress(Exception):  # the channel may be gone; disconnect goes on
            self.write_channel(command + self.RETURN)

    # -- commands ------------------------------------------------------------------
    def send_command(self, command_string: str, expect_string: str | None = None,
                     read_timeout: float = 10.0, *args: Any, use_textfsm: bool = False,
                     textfsm_template: str | None = None, strip_prompt: bool = True,
                     strip_command: bool = True, raise_on_error: bool = True,
                     **kwargs: Any) -> Any:
        """Run a command and return its output (without the echo and the prompt).

        Without *expect_string* the command's end is the next prompt or question; a
        question that is left open is cancelled with Ctrl-C and raises
        :class:`SegcliQuestionError`.  AsyncOS errors raise :class:`SegcliCommandError`
        unless *raise_on_error* is False.  ``use_textfsm=True`` parses the output with
        the templates shipped in :mod:`segcli.automation` (no environment needed), or
        with *textfsm_template* if given; a command without a template returns text."""
        own_pattern = expect_string is None
        try:
            raw = super().send_command(
                command_string, "(?m)" + PROMPT_OR_QUESTION if own_pattern else expect_string,
                read_timeout, *args, **{**kwargs, "strip_prompt": False, "strip_command": False})
        except ReadTimeout:
            if own_pattern:  # still at work (``tail``, ``rate``): stop it, keep the session
                self._interrupt()
            raise
        assert isinstance(raw, str)
        body, last = self._split(command_string, raw)
        if own_pattern and re.fullmatch(QUESTION, last):
            self._interrupt()
            raise SegcliQuestionError(command_string, body + last,
                                      f"it asked {last.strip()!r} and nobody answered (use "
                                      "its one-line form, or dialog() with the answers)")
        if raise_on_error:
            self.raise_for_error(command_string, body)
        output = (body if strip_prompt else body + last)
        if not strip_command:
            output = command_string + "\n" + output
        if use_textfsm:
            return self._parse(command_string, output, textfsm_template)
        return output

    def _parse(self, command: str, output: str, template: str | None) -> Any:
        if template is not None:
            from netmiko.utilities import get_structured_data_textfsm
            return get_structured_data_textfsm(output, platform=DEVICE_TYPE, command=command,
                                               template=template)
        if template_for(command) is None:
            return output
        return parse(command, output)

    def _split(self, command: str, raw: str) -> tuple[str, str]:
        """(the command's output, the last line: the prompt or a question) of what came
        back after typing *command*; the echo of the command is left out."""
        text = self.normalize_linefeeds(raw)
        echo, newline, rest = text.partition("\n")
        if not newline or echo.strip() != command.strip():
            rest = text
        body, _, last = rest.rpartition("\n")
        if re.fullmatch(PROMPT, last):
            self.base_prompt = last.rstrip().rstrip(">")
        return (body + "\n" if body else ""), last

    @staticmethod
    def raise_for_error(command: str, output: str) -> None:
        """Raise :class:`SegcliCommandError` if *output* is an AsyncOS error: one of the
        appliance's general errors, or text that does not open with the blank line every
        command's output opens with (a refused value, a missing policy ...)."""
        if ERROR_LINES.search(output) or (output.strip() and not output.startswith("\n")):
            raise SegcliCommandError(command, output)

    def _interrupt(self) -> None:
        """Ctrl-C abandons the command (at a question or at work); wait for the prompt."""
        self.write_channel(CTRL_C)
        self.read_until_pattern(pattern=PROMPT, re_flags=re.MULTILINE, read_timeout=10)

    def dialog(self, command: str, answers: list[str], read_timeout: float = 30.0) -> str:
        """Run *command* and answer its questions in order (an empty string takes the
        default); return everything printed, questions included.  More questions than
        answers: Ctrl-C and :class:`SegcliQuestionError`.  Questions that do not come
        (``clearchanges`` with nothing to clear asks nothing) leave answers unused.  A
        command the appliance refuses raises :class:`SegcliCommandError`."""
        if any("\n" in answer or "\r" in answer for answer in answers):
            raise ValueError("an answer is one line: it must not contain a line break")
        pending = list(answers)
        self.write_channel(command + self.RETURN)
        transcript = ""
        while True:
            chunk = self.read_until_pattern(pattern=PROMPT_OR_QUESTION, re_flags=re.MULTILINE,
                                            read_timeout=read_timeout)
            transcript += self.normalize_linefeeds(chunk)
            last = transcript.rpartition("\n")[2]
            if re.fullmatch(PROMPT, last):
                break
            if not pending:
                self._interrupt()
                raise SegcliQuestionError(command, transcript,
                                          f"it asked {last.strip()!r} and no answer was left")
            self.write_channel(pending.pop(0) + self.RETURN)
        body, _ = self._split(command, transcript)
        self.raise_for_error(command, body)
        return body

    # -- the commit model --------------------------------------------------------------
    def commit(self, comment: str = "Committed by netmiko", read_timeout: float = 60.0) -> str:
        """``commit`` with *comment* (saved for rollback); returns the appliance's line
        (``Changes committed: <date>`` or ``There is no data to commit.``).  A refused
        commit raises :class:`SegcliCommandError`; the changes then stay pending."""
        if not comment.strip():
            raise ValueError("a commit needs a comment")  # the appliance would ask again
        output = self.dialog("commit", [comment, "Y"], read_timeout=read_timeout)
        found = _COMMITTED.search(output)
        if found:
            return found.group(0)
        if _NOTHING_TO_COMMIT in output:
            return _NOTHING_TO_COMMIT
        raise SegcliCommandError("commit", output)

    def clear_changes(self) -> str:
        """``clearchanges``, confirmed: drop this session's pending changes."""
        output = self.dialog("clearchanges", ["Y"])
        found = _CLEARED.search(output)
        if not found:
            raise SegcliCommandError("clearchanges", output)
        return found.group(0)

    def save_config(self, cmd: str = "saveconfig", confirm: bool = False,
                    confirm_response: str = "", mask_passphrases: bool = False) -> str:
        """``saveconfig``: write the committed configuration to the configuration
        directory; returns the file's name (fetch it with :func:`netmiko.file_transfer`,
        ``direction="get"``).  Passphrases are kept unless *mask_passphrases* (a masked
        file cannot be loaded again)."""
        output = self.dialog(cmd, [confirm_response or ("Y" if mask_passphrases else "N")])
        found = _SAVED.search(output)
        if not found:
            raise SegcliCommandError(cmd, output)
        return found.group(1)

    def send_config_set(self, config_commands: Any = None, *args: Any,
                        comment: str = "Committed by netmiko send_config_set",
                        commit: bool = True, read_timeout: float | None = None,
                        **kwargs: Any) -> str:
        """Run one-line configuration commands, then ``commit`` them with *comment*
        (``commit=False`` leaves them pending).  A refused command raises
        :class:`SegcliCommandError` at once and nothing is committed (the lines before it
        stay pending: :meth:`clear_changes` drops them); a command that asks a question
        is cancelled (use its one-line form)."""
        if config_commands is None:
            return ""
        commands = [config_commands] if isinstance(config_commands, str) else list(config_commands)
        timeout = read_timeout or 30.0
        output = ""
        for command in commands:
            if not command.strip():
                continue
            result = self.send_command(command, read_timeout=timeout)
            if result.strip():  # one-line configuration commands are silent when they work
                raise SegcliCommandError(command, result)
            output += command + "\n"
        if commit:
            output += self.commit(comment) + "\n"
        return output


class CiscoEsaFileTransfer(BaseFileTransfer):
    """Configuration files to and from the appliance's ``/configuration`` directory:
    SCP (paramiko's ``scp`` module, as netmiko does) for the copy, SFTP over the same
    connection for what netmiko would otherwise ask a shell (exists, size, MD5)."""

    def __init__(self, ssh_conn: BaseConnection, source_file: str, dest_file: str,
                 file_system: str | None = CONFIGURATION_DIRECTORY, direction: str = "put",
                 **kwargs: Any) -> None:
        super().__init__(ssh_conn, source_file, dest_file,
                         file_system=file_system or CONFIGURATION_DIRECTORY,
                         direction=direction, **kwargs)

    def _sftp(self) -> paramiko.SFTPClient:
        transport = self.ssh_ctl_chan.remote_conn.get_transport()  # type: ignore[union-attr]
        client = paramiko.SFTPClient.from_transport(transport)
        if client is None:
            raise OSError("the appliance refused an SFTP channel")
        return client

    def _remote_path(self, name: str | None = None) -> str:
        if name is None:
            name = self.dest_file if self.direction == "put" else self.source_file
        return posixpath.join(self.file_system, posixpath.basename(name))

    def check_file_exists(self, remote_cmd: str = "") -> bool:
        if self.direction == "get":
            return os.path.isfile(self.dest_file)
        with self._sftp() as sftp:
            try:
                return stat.S_ISREG(sftp.stat(self._remote_path()).st_mode or 0)
            except FileNotFoundError:
                return False

    def remote_file_size(self, remote_cmd: str = "", remote_file: str | None = None) -> int:
        with self._sftp() as sftp:
            return sftp.stat(self._remote_path(remote_file)).st_size or 0

    def remote_md5(self, base_cmd: str = "", remote_file: str | None = None) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        with self._sftp() as sftp, sftp.open(self._remote_path(remote_file), "rb") as remote:
            while chunk := remote.read(65536):
                digest.update(chunk)
        return digest.hexdigest()

    def remote_space_available(self, search_pattern: str = "") -> int:
        """The appliance does not report the configuration directory's free space over
        SFTP; it refuses a file too large itself.  Report "plenty"."""
        return 2**63 - 1

    def verify_space_available(self, search_pattern: str = "") -> bool:
        if self.direction == "get":
            return self.local_space_available() > self.file_size
        return True


def register() -> None:
    """Make ``ConnectHandler(device_type="cisco_esa")`` and ``file_transfer`` know the
    driver (idempotent)."""
    for name in (DEVICE_TYPE, DEVICE_TYPE + "_ssh"):
        _dispatcher.CLASS_MAPPER[name] = CiscoEsaSSH
        _dispatcher.FILE_TRANSFER_MAP[name] = CiscoEsaFileTransfer
        for names in (_dispatcher.platforms, _dispatcher.scp_platforms):
            if name not in names:
                names.append(name)
                names.sort()
    _dispatcher.CLASS_MAPPER_BASE[DEVICE_TYPE] = CiscoEsaSSH
