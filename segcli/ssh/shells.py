"""The CLI on one SSH session channel: one :class:`~commands.session.CliSession` per
shell or exec request, with the renderer the request calls for (DESIGN.md, "Two
renderers, one command engine").

- a shell with a pty at a real terminal: prompt_toolkit (:class:`PromptCli`), its
  input fed through a pipe, its output (and rich's) written into the channel;
- a shell with a pty whose terminal type is ``dumb``/``vt100`` (what paramiko and
  netmiko ask for), a shell without a pty (``ssh -T``, a piped script) and exec
  requests: the plain renderer (:class:`PlainCli`), literal AsyncOS prompts.

Each session's pending changes are its own and die with it: closing the channel
cancels whatever runs, and nothing half-recorded is ever committed.

A shell left idle (``adminaccessconfig`` TIMEOUT, 30 minutes by default) is closed as on
the appliance: its input ends, so uncommitted changes are discarded with the usual
warning, and a last line says why.  Input only notes the time it came; one timer per
shell checks it when it fires and re-arms itself (:meth:`ChannelCli.watch_idle`).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from prompt_toolkit.application.current import AppSession, create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input.posix_pipe import PosixPipeInput
from prompt_toolkit.input.posix_utils import PosixStdinReader
from prompt_toolkit.output.vt100 import Vt100_Output

from commands.io import EndOfInput
from commands.session import CliSession
from segcli.ssh.channel import ClientBytes, exit_status_of, send_exit_status
from segcli.ssh.lines import MAX_TYPEAHEAD, ChannelLineReader, KeyboardLineReader
from segcli.terminal.console import PromptTerminal
from segcli.terminal.plain import LineSource, PlainTerminal

if TYPE_CHECKING:
    from twisted.conch.ssh.session import SSHSessionProcessProtocol

    from commands.io import Terminal
    from engine.appliance import Appliance
    from engine.store.users import Role

DEFAULT_ROWS, DEFAULT_COLUMNS = 24, 80
#: Terminal types that mean "a program, not a person": they get the plain renderer even
#: with a pty.  paramiko and netmiko ask for vt100; ``dumb`` asks for plain text.
PLAIN_TERMS = frozenset({"", "dumb", "unknown", "vt100", "vt102"})
CTRL_C = b"\x03"
#: How long a new interactive session waits for the client's terminal to say where its
#: cursor is.  A person's terminal answers at once; a script with a pty (scrapli over
#: OpenSSH with a real TERM, expect) never does, and prompt_toolkit would otherwise ask
#: again before every prompt and hold each command up to a second for the answer.
CPR_PROBE_S = 0.5
_ASK_CPR = "\x1b[6n"
_CPR_ANSWER = re.compile(rb"\x1b\[\d+;\d+R")
#: Bytes of keys given to prompt_toolkit at a time (see :class:`KeyPipe`).
KEY_SLICE = 256
#: Seconds in a minute of the CLI inactivity timeout.  Only the end-to-end tests change it
#: (tests/e2e/ssh_test_commands.py), in their appliance process: the appliance's smallest
#: timeout is 5 minutes, too long for a test to wait.
MINUTE = 60.0


@dataclass
class Pty:
    """What the client's pty request asked for; the size follows window changes.

    A zero-size window (some clients send one) counts as 24x80."""

    term: str
    rows: int
    columns: int

    def resize(self, rows: int, columns: int) -> None:
        self.rows, self.columns = rows, columns

    @property
    def size(self) -> Size:
        return Size(rows=self.rows or DEFAULT_ROWS, columns=self.columns or DEFAULT_COLUMNS)

    @property
    def wants_plain(self) -> bool:
        return self.term.lower() in PLAIN_TERMS


@dataclass
class Login:
    """Who is on the other end of a session, for the CliSession and its terminal."""

    user: str
    role: Role
    appliance: Appliance
    history_dir: Path


# -- the channel's two directions -------------------------------------------------------

class ChannelWriter:
    """A text stream into the channel (for rich, prompt_toolkit and PlainTerminal).

    With a pty every line end goes out as ``\\r\\n`` (the client's terminal is raw); a
    channel already closed swallows what is written instead of failing the command.
    """

    encoding = "utf-8"

    def __init__(self, proto: SSHSessionProcessProtocol, *, crlf: bool) -> None:
        self._proto = proto
        self._crlf = crlf
        self.closed = False

    def write(self, text: str) -> int:
        if not self.closed and text:
            if self._crlf:
                text = text.replace("\r\n", "\n").replace("\n", "\r\n")
            self._proto.write(text.encode("utf-8", "replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._crlf

    def as_text_io(self) -> TextIO:
        """This writer where a library asks for a text stream: prompt_toolkit's
        Vt100_Output and rich's Console are typed to take a whole TextIO but only call
        ``write``, ``flush``, ``isatty`` and read ``encoding`` -- prompt_toolkit's own SSH
        server (contrib/ssh/server.py) casts its channel writer the same way."""
        return cast(TextIO, self)


class KeyPipe:
    """prompt_toolkit's pipe input, fed a slice at a time without ever blocking the loop.

    prompt_toolkit handles every key it reads in one go, and each key costs it a few
    hundred microseconds (its key bindings are looked up afresh): a paste of 8,000 keys
    read at once held the event loop, and every other session, for most of a second.
    So at most :data:`KEY_SLICE` bytes are in the pipe at a time; the next slice goes in
    at the loop turn after prompt_toolkit has read the last one (its reader tells us:
    :class:`_SliceReader`).  The rest waits here, up to :data:`MAX_TYPEAHEAD` besides
    the slice in the pipe, also while a command runs and nothing reads the keys.
    """

    def __init__(self, pipe: PosixPipeInput) -> None:
        self.input = pipe
        self._fd = pipe.pipe.write_fd
        os.set_blocking(self._fd, False)  # a guard: the pipe never holds more than a slice
        pipe.stdin_reader = _SliceReader(pipe.stdin_reader.stdin_fd, self._was_read)
        self._backlog = bytearray()
        self._in_pipe = False  # a slice was written that prompt_toolkit has not read yet
        self._next: asyncio.Handle | None = None
        self._loop = asyncio.get_running_loop()

    def send(self, data: bytes) -> None:
        if self.input.closed or self._fd < 0:
            return
        self._backlog += data[:MAX_TYPEAHEAD - len(self._backlog)]
        if not self._in_pipe and self._next is None:
            self._feed()

    def _feed(self) -> None:
        """Put the next slice of the backlog into the pipe."""
        self._next = None
        if self._fd < 0 or not self._backlog:
            return
        written = self._write(bytes(self._backlog[:KEY_SLICE]))
        del self._backlog[:written]
        self._in_pipe = True  # even if nothing went in: a full pipe will be read

    def _was_read(self) -> None:
        """prompt_toolkit read the pipe (everything in it: a read takes up to 1,024
        bytes): the next slice goes in at the next loop turn, so that whatever else is
        ready runs first."""
        self._in_pipe = False
        if self._backlog and self._next is None and self._fd >= 0:
            self._next = self._loop.call_soon(self._feed)

    def _write(self, data: bytes) -> int:
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError:  # the reading end is gone: the session is ending
            return len(data)

    def close(self) -> None:
        """End of input: prompt_toolkit's prompt sees EOF (typed-ahead bytes are dropped)."""
        if self._fd >= 0:
            if self._next is not None:
                self._next.cancel()
                self._next = None
            self._backlog.clear()
            self._fd = -1
            self.input.close()


class _SliceReader(PosixStdinReader):
    """prompt_toolkit's reader of the pipe, which says when it has read (for
    :class:`KeyPipe`).  Every read of the pipe input goes through it: the prompt's and
    the pager's (``Vt100Input.read_keys``)."""

    def __init__(self, fd: int, on_read: Callable[[], None]) -> None:
        super().__init__(fd)
        self._on_read = on_read

    def read(self, count: int = 1024) -> str:
        try:
            return super().read(count)
        finally:
            self._on_read()


# -- terminals ---------------------------------------------------------------------------

class ChannelPromptTerminal(PromptTerminal):
    """PromptTerminal on a channel; the session calls ``detach()`` when it ends, so the
    appliance does not keep one watcher per past login.  ``asking``: a command waits for
    an answer (for the idle timeout, that is waiting for the person)."""

    asking = False

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        self.asking = True
        try:
            return await super().ask(prompt, choices=choices, secret=secret)
        finally:
            self.asking = False


class ChannelPlainTerminal(PlainTerminal):
    """PlainTerminal whose width follows the client's window and whose keyboard (in pty
    mode) stops echoing while a password is asked.  ``asking`` as for
    :class:`ChannelPromptTerminal`."""

    asking = False

    def resize(self, columns: int) -> None:
        self._width = columns or DEFAULT_COLUMNS

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        keyboard = self._reader if isinstance(self._reader, KeyboardLineReader) else None
        if keyboard is not None:
            keyboard.secret = secret
        self.asking = True
        try:
            return await super().ask(prompt, choices=choices, secret=secret)
        finally:
            self.asking = False
            if keyboard is not None:
                keyboard.secret = False


class ExecTerminal(ChannelPlainTerminal):
    """An exec request: the commands come from the request (no prompt is shown), the
    answers to their questions from the channel's input."""

    def __init__(self, commands: list[str], reader: LineSource, out: TextIO,
                 **options: Any) -> None:
        super().__init__(reader, out, **options)
        self._commands = list(commands)

    async def read_command(self, prompt: str) -> str:
        if not self._commands:
            raise EndOfInput
        return self._commands.pop(0)


# -- one CLI on one channel ---------------------------------------------------------------

class ChannelCli:
    """A CliSession running on one channel: started by a shell or exec request, ended by
    ``quit``, the end of input or the channel closing.  Subclasses supply the renderer.
    """

    def __init__(self, login: Login, proto: SSHSessionProcessProtocol, pty: Pty | None) -> None:
        self.login = login
        self.pty = pty
        self.session: CliSession | None = None
        self._proto = proto
        self.out = ChannelWriter(proto, crlf=pty is not None)
        self._task: asyncio.Task[int] | None = None
        self._closed = False
        self._on_end: Callable[[], None] = lambda: None
        #: What the client sent before the banner was out (None: the end of input).  It
        #: is held so that the echo of keys typed ahead never comes before the banner.
        self._held: list[bytes | None] | None = []
        #: The idle timeout in minutes (None: none, as for exec requests), when the client
        #: last sent something (time.monotonic), the timer, and whether it expired.
        self.idle_minutes: int | None = None
        self._last_input = time.monotonic()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._expired = False

    def start(self, greeting: Callable[[], Awaitable[str]], on_end: Callable[[], None]) -> None:
        """Run the session (after *greeting*, which says the banner); the client's bytes
        are taken from now on.  *on_end* is called once it is over."""
        self._on_end = on_end
        self._task = asyncio.ensure_future(self._run(greeting))
        self._task.add_done_callback(self._ended)
        self._proto.makeConnection(ClientBytes(self))

    async def _run(self, greeting: Callable[[], Awaitable[str]]) -> int:
        raise NotImplementedError

    def _new_session(self, terminal: Terminal) -> CliSession:
        self.session = CliSession(self.login.appliance, terminal, user=self.login.user,
                                  role=self.login.role, local=False)
        return self.session

    async def finished(self) -> None:
        """Wait until the session has ended (for a server that is stopping).  Cancelling
        the wait cancels only the wait: the session ends by :meth:`channel_closed`."""
        if self._task is not None:
            await asyncio.wait([self._task])

    # -- events from the channel ---------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._last_input = time.monotonic()
        if self._held is not None:
            self._held.append(data)
        else:
            self._take(data)

    def end_of_input(self) -> None:
        if self._held is not None:
            self._held.append(None)
        else:
            self._end()

    def _ready(self) -> None:
        """The banner is out: take what the client sent meanwhile, in order."""
        held, self._held = self._held or [], None
        if self.idle_minutes is not None:
            self._arm_idle(self.idle_minutes * MINUTE)
        for data in held:
            if data is None:
                self._end()
            else:
                self._take(data)

    def _take(self, data: bytes) -> None:
        """Bytes from the client, for the renderer."""
        raise NotImplementedError

    def _end(self) -> None:
        """The client will send nothing more."""
        raise NotImplementedError

    def resized(self) -> None:
        """The client's window changed size (``self.pty`` has the new size)."""

    # -- the idle timeout ------------------------------------------------------------------
    def _arm_idle(self, delay: float) -> None:
        self._idle_timer = asyncio.get_running_loop().call_later(delay, self._idle_check)

    def _idle_check(self) -> None:
        """Close the shell if nothing came from the client for the whole timeout while it
        waited for the person (at the prompt or a question).  A command at work without
        asking anything (``tail``, ``rate``) is not idleness: it is checked again a minute
        later, so the prompt it returns to gets its timeout afresh."""
        self._idle_timer = None
        if self._closed or self.idle_minutes is None:
            return
        now = time.monotonic()
        session = self.session
        if session is not None and session.busy and not getattr(session.terminal, "asking", False):
            self._last_input = now
            self._arm_idle(MINUTE)
            return
        left = self._last_input + self.idle_minutes * MINUTE - now
        if left > 0:
            self._arm_idle(left)
            return
        self._expired = True
        self._end()  # the end of input: the session ends as after Ctrl-D

    def _stop_idle(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def channel_closed(self) -> None:
        """The client went away (or the server is stopping): whatever runs is cancelled
        and the session's pending changes go with it."""
        if self._closed:
            return
        self._closed = True
        self.out.closed = True
        self._stop_idle()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    # -- the end ---------------------------------------------------------------------------
    def _ended(self, task: asyncio.Task[int]) -> None:
        status = exit_status_of(task, f"SSH session of {self.login.user}")
        self._stop_idle()
        if self._expired and not self._closed:
            self.out.write(f"\n{expired_message(self.idle_minutes or 0)}\n")
        if not self._closed:
            self._closed = True
            send_exit_status(self._proto, status)
        self.out.closed = True
        self._on_end()


def expired_message(minutes: int) -> str:
    """The last line of a shell closed for being idle (segcli's own wording: the
    appliance's is not published)."""
    return f"Session expired: idle for {minutes} minutes."


def _status(session: CliSession, status: int, *, interactive: bool) -> int:
    """A person who once mistyped has still ended the session normally (0); a script
    learns whether every command worked."""
    return 0 if interactive and session.finished else status


class PromptCli(ChannelCli):
    """A person at a terminal: the prompt_toolkit renderer over the channel, in its own
    prompt_toolkit app session so that concurrent logins never share an application."""

    def __init__(self, login: Login, proto: SSHSessionProcessProtocol, pty: Pty) -> None:
        super().__init__(login, proto, pty)
        self.pty: Pty = pty
        self._keys: KeyPipe | None = None
        self._app_session: AppSession | None = None

    async def _run(self, greeting: Callable[[], Awaitable[str]]) -> int:
        banner = await greeting()
        answers_cpr = await self._answers_cursor_requests()
        with PosixPipeInput.create() as pipe:
            self._keys = KeyPipe(pipe)
            output = Vt100_Output(self.out.as_text_io(), lambda: self.pty.size,
                                  term=self.pty.term, enable_cpr=answers_cpr)
            with create_app_session(input=pipe, output=output) as self._app_session:
                terminal = ChannelPromptTerminal(
                    history_file=self.login.history_dir / self.login.user, input=pipe,
                    output=output, stdout=self.out)
                session = self._new_session(terminal)
                terminal.attach(session)
                try:
                    self.out.write(banner)
                    self._ready()
                    status = await session.run()
                finally:
                    terminal.detach()
                    self._keys.close()
        return _status(session, status, interactive=True)

    async def _answers_cursor_requests(self) -> bool:
        """Ask the client's terminal once where its cursor is (before the banner, while
        what the client sends is still held): an answer within :data:`CPR_PROBE_S` is
        taken out of the input and prompt_toolkit may ask again (it needs the answer for
        the bottom toolbar); no answer, and it never asks.  ``PROMPT_TOOLKIT_NO_CPR=1`` in
        the appliance's environment means never ask, as prompt_toolkit has it."""
        if os.environ.get("PROMPT_TOOLKIT_NO_CPR") == "1":
            return False
        self.out.write(_ASK_CPR)
        deadline = time.monotonic() + CPR_PROBE_S
        while time.monotonic() < deadline:
            held = self._held or []
            if None in held:  # the input ended: nobody will answer
                return False
            data = b"".join(cast("list[bytes]", held))
            if (answer := _CPR_ANSWER.search(data)) is not None:
                rest = data[:answer.start()] + data[answer.end():]
                if self._held is not None:
                    self._held[:] = [rest] if rest else []
                return True
            await asyncio.sleep(0.01)
        return False

    def _take(self, data: bytes) -> None:
        assert self._keys is not None
        if CTRL_C in data and not self._prompt_shown() and self.session is not None \
                and self.session.interrupt():
            # Ctrl-C while a command runs (no prompt to read the key): cancel the command.
            self.out.write("^C")
            data = data.replace(CTRL_C, b"")
        self._keys.send(data)

    def _prompt_shown(self) -> bool:
        app = self._app_session.app if self._app_session is not None else None
        return app is not None and app.is_running

    def _end(self) -> None:
        if self._keys is not None:
            self._keys.close()

    def resized(self) -> None:
        app = self._app_session.app if self._app_session is not None else None
        if app is not None and app.is_running:
            app._on_resize()  # as prompt_toolkit's own SSH server does

    def channel_closed(self) -> None:
        super().channel_closed()
        if self._keys is not None:
            self._keys.close()


class PlainCli(ChannelCli):
    """Literal AsyncOS prompts for scripts: a shell with a "program" pty (keys echoed by
    the server as a terminal would), a shell without a pty, or an exec request."""

    def __init__(self, login: Login, proto: SSHSessionProcessProtocol, pty: Pty | None,
                 commands: list[str] | None = None) -> None:
        super().__init__(login, proto, pty)
        self._commands = commands
        if pty is not None:
            self._reader: KeyboardLineReader | ChannelLineReader = KeyboardLineReader(
                self.out.write, self._ctrl_c)
        else:
            self._reader = ChannelLineReader()
        width = pty.size.columns if pty is not None else DEFAULT_COLUMNS
        # Without a pty nothing is echoed by anyone else: the answer follows its prompt,
        # as in a transcript.  With a pty the keyboard reader has echoed it already.
        echo = pty is None
        out = self.out.as_text_io()
        if commands is None:
            self.terminal = ChannelPlainTerminal(self._reader, out, echo=echo, width=width)
        else:
            self.terminal = ExecTerminal(commands, self._reader, out, echo=echo, width=width)

    async def _run(self, greeting: Callable[[], Awaitable[str]]) -> int:
        banner = await greeting()
        session = self._new_session(self.terminal)
        self.out.write(banner)
        self._ready()
        status = await session.run()
        return _status(session, status, interactive=self.pty is not None
                       and self._commands is None)

    def _ctrl_c(self) -> None:
        """Ctrl-C at a pty: cancel the running command, or abandon the line being typed."""
        self.out.write("^C")
        session = self.session
        if session is None or not session.interrupt():
            self.out.write("\n" + (session.prompt if session and self._commands is None else ""))

    def _take(self, data: bytes) -> None:
        self._reader.feed(data)

    def _end(self) -> None:
        self._reader.end()

    def resized(self) -> None:
        if self.pty is not None:
            self.terminal.resize(self.pty.columns)
