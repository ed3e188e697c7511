"""A platform for classic scrapli (``scrapli>=2024.7.30,<2026``): the appliance's prompts,
its one privilege level, its error lines and its dialogs, over the paramiko and the system
(OpenSSH) transports alike.

    from segcli.automation.scrapli_platform import scrapli_driver

    with scrapli_driver("127.0.0.1", 2222, "admin", "ironport",
                        auth_strict_key=False) as conn:
        print(conn.send_command("tophosts 1").result)

Why it is built this way:

- **Prompts** (ASYNCOS.md, "Interactive conventions"): the main prompt is the hostname and
  ``> `` (``mail1.example.com> ``; in a cluster ``(Machine mail1.example.com)> ``); it does
  not change while changes are pending.  A question ends in ``[default]> ``: ``[]>`` (no
  default), ``[Y]>``, ``[N]>``, ``[1]>``.  Questions are not a privilege level: a dialog is
  answered with :meth:`AsyncOSDriver.send_dialog` (or scrapli's ``send_interactive`` with
  :data:`QUESTION_PATTERN` and :data:`PROMPT_PATTERN`), never by "de-escalating" with an
  Enter that would take a default such as clearchanges' ``[Y]``.  A question met by
  ``send_command`` ends that command at once: abandoned with Ctrl-C, response failed.
- **Privilege levels**: only ``exec``.  AsyncOS has no configuration mode: a configuration
  command runs at the main prompt and records a pending change until ``commit``.  So
  ``send_configs`` runs its lines at ``exec``, and a failed line with
  ``stop_on_failed=True`` aborts the way AsyncOS does it, with ``clearchanges``.
- **Renderer**: a program gets the appliance's plain renderer (literal prompts, exactly the
  command's output, no paging).  paramiko asks for a ``vt100`` pty, which gets it; OpenSSH
  passes on the caller's ``TERM``, and a real one (``xterm-256color``) would get segcli's
  interactive renderer, which asks the terminal for its cursor position before every prompt
  and, when no answer comes (scrapli is no terminal), holds every command about a second.
  The system transport therefore adds ``-o SetEnv=SEGCLI_PLAIN=1``, segcli's documented
  request for the plain renderer (a real appliance ignores it).  Nothing is paged there,
  so ``on_open`` has nothing to turn off: it only finds the prompt.
- **Errors**: ``response.failed`` is True when the output holds one of the appliance's
  error lines (:data:`FAILED_WHEN_CONTAINS`).  A refused value in a one-line command is
  printed in the value's own words (no common prefix), so only the fixed lines are known.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

from scrapli.channel.sync_channel import Channel
from scrapli.decorators import timeout_wrapper
from scrapli.driver import NetworkDriver
from scrapli.driver.network.base_driver import PrivilegeLevel
from scrapli.response import MultiResponse, Response

#: The main prompt, whole line: the hostname (or a cluster mode) and ``>``; scrapli strips
#: the trailing space of the plain renderer (and the escape codes of the interactive one).
PROMPT_PATTERN = r"^(?:[\w.-]+|\((?:Cluster|Group|Machine) [^)\n]+\))> ?$"
#: A question's last line: ``[default]>`` (``[]>``, ``[Y]>``, ``[N]>``), after its text.
QUESTION_PATTERN = r"^.*\[[^\]\n]*\]> ?$"

#: What the appliance says when a command fails: the fixed lines (commands/session.py,
#: commands/commit.py, commands/dialog.py; a real appliance shares the first and the
#: access line), then the phrases of refused values, which are worded per value
#: ("A hostname must contain only ...", '"foo" is not valid', "The value must be an
#: integer from 1 to 5.") and share no prefix.
FAILED_WHEN_CONTAINS = [
    "Unknown command or missing feature key:",
    "Invalid arguments when processing:",
    "You are not in the correct access group to use this command.",
    "An application fault occurred:",
    "Commit failed:",
    "Please answer Y or N.",
    "You must enter ",
    " is not valid",
    " is not a valid ",
    "Not a valid ",
    " must be ",
    " must contain only ",
]

PRIVILEGE_LEVELS = {
    "exec": PrivilegeLevel(
        pattern=PROMPT_PATTERN, name="exec", previous_priv="", deescalate="", escalate="",
        escalate_auth=False, escalate_prompt="",
    ),
}
DEFAULT_PRIVILEGE_LEVEL = "exec"

#: OpenSSH's request for segcli's plain renderer (segcli/ssh/session.py, ``PLAIN_ENV``).
PLAIN_RENDERER_OPTIONS = ["-o", "SetEnv=SEGCLI_PLAIN=1"]
CTRL_C = "\x03"
_QUESTION = re.compile(QUESTION_PATTERN, re.M)
_PROMPT = re.compile(PROMPT_PATTERN, re.M)


def asyncos_on_open(conn: NetworkDriver) -> None:
    """After login: find the main prompt (the banner comes before it).  There is no paging
    to turn off: the plain renderer never pages, and AsyncOS has no ``terminal length``."""
    conn.acquire_priv(desired_priv=conn.default_desired_privilege_level)


def asyncos_on_close(conn: NetworkDriver) -> None:
    """Leave as a person does.  Uncommitted changes die with the session either way (``quit``
    then asks whether to lose them; closing the transport answers for it)."""
    conn.channel.write(channel_input="quit")
    conn.channel.send_return()


def with_plain_renderer(transport: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The transport options with the plain-renderer request added for the system transport
    (before the caller's own ``open_cmd``; paramiko's vt100 pty gets the plain one as is)."""
    merged = dict(options or {})
    if transport == "system":
        own = merged.get("open_cmd", [])
        merged["open_cmd"] = [*PLAIN_RENDERER_OPTIONS, *([own] if isinstance(own, str) else own)]
    return merged


class AsyncOSDriver(NetworkDriver):
    """scrapli's NetworkDriver for an AsyncOS appliance (segcli or a Secure Email Gateway).

    Takes every argument of scrapli's ``NetworkDriver``; the platform's own defaults are the
    prompts, the ``exec`` level, :data:`FAILED_WHEN_CONTAINS` and the open/close steps.
    """

    def __init__(self, host: str, *, transport: str = "system",
                 transport_options: dict[str, Any] | None = None,
                 privilege_levels: dict[str, PrivilegeLevel] | None = None,
                 default_desired_privilege_level: str = DEFAULT_PRIVILEGE_LEVEL,
                 failed_when_contains: list[str] | None = None,
                 on_open: Callable[..., Any] | None = asyncos_on_open,
                 on_close: Callable[..., Any] | None = asyncos_on_close,
                 **kwargs: Any) -> None:
        super().__init__(
            host=host, transport=transport,
            transport_options=with_plain_renderer(transport, transport_options),
            privilege_levels=privilege_levels or copy.deepcopy(PRIVILEGE_LEVELS),
            default_desired_privilege_level=default_desired_privilege_level,
            failed_when_contains=list(failed_when_contains or FAILED_WHEN_CONTAINS),
            on_open=on_open, on_close=on_close, **kwargs,
        )

    # -- commands -------------------------------------------------------------------------
    def _send_command(self, command: str, strip_prompt: bool = True,
                      failed_when_contains: str | list[str] | None = None, eager: bool = False,
                      eager_input: bool = False, timeout_ops: float | None = None) -> Response:
        """Every ``send_command``/``send_commands``/``send_configs`` line: a command that asks
        a question (``saveconfig``, ``clearchanges``) stops there instead of waiting for a
        timeout, is abandoned with Ctrl-C (so no default is taken), and its response is
        marked failed, its result ending with the question: such a command wants
        :meth:`send_dialog`."""
        main_prompt = self.comms_prompt_pattern
        self.comms_prompt_pattern = f"(?:{main_prompt})|(?:{QUESTION_PATTERN})"
        try:
            response = super()._send_command(
                command, strip_prompt=False, failed_when_contains=failed_when_contains,
                eager=eager, eager_input=eager_input, timeout_ops=timeout_ops)
        finally:
            self.comms_prompt_pattern = main_prompt
        raw = response.raw_result
        response.record_response(self.channel._process_output(buf=raw, strip_prompt=strip_prompt))
        response.raw_result = raw
        if not eager and _ends_at_question(raw.decode(errors="replace")):
            self.logger.warning("%r asked a question: abandoned (use send_dialog)", command)
            response.raw_result += self._abandon_dialog()
            response.failed = True
        return response

    # -- configuration: one-line commands at the main prompt --------------------------------
    def send_configs(self, configs: list[str], *, privilege_level: str = "",
                     **kwargs: Any) -> MultiResponse:
        """Configuration lines run at the main prompt (there is no configuration mode) and
        stay pending until :meth:`commit`."""
        return super().send_configs(configs, privilege_level=privilege_level or "exec",
                                    **kwargs)

    def _abort_config(self) -> None:
        """A failed line with ``stop_on_failed``: discard what the earlier lines recorded."""
        self.clear_changes()

    # -- dialogs ------------------------------------------------------------------------------
    def send_dialog(self, command: str, answers: Sequence[str] = (), *,
                    timeout_ops: float | None = None) -> Response:
        """Run *command* and answer its questions in order, stopping at the main prompt.

        A command that asks less than expected (``clearchanges`` with nothing pending) just
        ends early.  One that asks more is abandoned with Ctrl-C, as a person would, so
        the session is back at the main prompt, and the response is marked failed.
        """
        raw: list[bytes] = []
        steps = [command, *answers]
        asking = False
        for step in steps:
            reply = self.send_interactive(
                [(step, QUESTION_PATTERN, False)], interaction_complete_patterns=[PROMPT_PATTERN],
                timeout_ops=timeout_ops)
            raw.append(reply.raw_result)
            asking = _ends_at_question(reply.result)
            if not asking:
                break
        if asking:
            raw.append(self._abandon_dialog())
        response = Response(host=self.host, channel_input=command,
                            failed_when_contains=self.failed_when_contains)
        response.record_response(b"".join(raw))
        response.failed = response.failed or asking
        return response

    def _abandon_dialog(self) -> bytes:
        """Ctrl-C at a question, then read to the main prompt (no Enter: an Enter arriving
        before the question is cancelled would take its default)."""
        self.channel.write(channel_input=CTRL_C)
        read: Callable[[Channel], bytes] = timeout_wrapper(Channel._read_until_prompt)
        return read(self.channel)

    def commit(self, comment: str, *, rollback: bool = True) -> Response:
        """``commit``: the comment, then whether to keep this configuration for rollback."""
        return self.send_dialog("commit", [comment, "Y" if rollback else "N"])

    def clear_changes(self) -> Response:
        """``clearchanges``, confirmed."""
        return self.send_dialog("clearchanges", ["Y"])

    def save_config(self, *, mask_passphrase: bool = True) -> Response:
        """``saveconfig`` into the configuration directory (fetch it over SFTP/SCP)."""
        return self.send_dialog("saveconfig", ["Y" if mask_passphrase else "N"])


def _ends_at_question(output: str) -> bool:
    """Does the output stop at a question (rather than back at the main prompt)?"""
    lines = output.rstrip().splitlines()
    last = lines[-1] if lines else ""
    return bool(_QUESTION.search(last)) and not _PROMPT.search(last)


def scrapli_driver(host: str, port: int = 22, username: str = "admin", password: str = "",
                   *, transport: str = "system", **kwargs: Any) -> AsyncOSDriver:
    """A driver for the appliance at *host*:*port*, not yet open (``with`` opens and
    closes it).  Other scrapli arguments (``auth_private_key``, ``auth_strict_key``,
    ``timeout_ops``, ...) pass through."""
    return AsyncOSDriver(host, port=port, auth_username=username, auth_password=password,
                         transport=transport, **kwargs)
