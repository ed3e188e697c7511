"""The console's side of the local console channel: ``segcli --data DIR`` while the
appliance of DIR runs.

At a terminal the keys go to the appliance raw, as over an SSH pty channel (the terminal
is put in raw mode and restored at the end; its size follows SIGWINCH): the appliance
draws the prompt, so completion, Ctrl-C cancelling a running ``tail`` and dialogs behave
exactly as in an SSH shell.  From a pipe the lines go as they are and the end of the
input is sent when it comes; the transcript is the plain renderer's and the exit status
the session's.

This module imports nothing of the engine: a console that attaches starts quickly.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import struct
import sys
import termios
import threading
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from segcli.attach import wire

EXIT_REFUSED = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
_READ = 65536


def connect(data_dir: Path) -> socket.socket | None:
    """A connection to the running appliance of *data_dir*, or None when none runs there
    (no socket, a stale one nobody answers on, or no directory at all: starting the
    appliance then says what is wrong with the path)."""
    path = os.fspath(Path(data_dir) / wire.SOCKET_NAME)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ECONNREFUSED, errno.ENAMETOOLONG):
            return None
        raise
    return sock


def attach(data_dir: Path, *, plain: bool = False) -> int | None:
    """Run a console on the appliance running in *data_dir*; its exit status, or None
    when no appliance runs there (the caller starts one).

    A socket the caller may not use (another user's data directory) is an error said on
    stderr, exit status 1."""
    try:
        sock = connect(data_dir)
    except OSError as exc:
        print(f"segcli: cannot attach to the appliance of {data_dir}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EXIT_REFUSED
    if sock is None:
        return None
    print(f"segcli: the appliance of {data_dir} runs in process {_peer_pid(sock)}; this "
          f"console is attached to it as {wire.CONSOLE_USER}.", file=sys.stderr)
    at_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    term = os.environ.get("TERM", "") or "dumb"
    if plain:
        term = "dumb"
    console = Console(sock, sys.stdin, sys.stdout, pty=at_terminal, term=term)
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(console.run())
    finally:
        sock.close()
        loop.close()


def _peer_pid(sock: socket.socket) -> int:
    """The appliance's process, in the kernel's word (``SO_PEERCRED``)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[0])


class Console:
    """One attached console: stdin relayed to the appliance, its output to stdout."""

    def __init__(self, sock: socket.socket, stdin: TextIO, stdout: TextIO, *, pty: bool,
                 term: str) -> None:
        self._sock = sock
        self._in = stdin.fileno()
        self._out = stdout.fileno()
        self._stdout = stdout
        self._pty = pty
        self._term = term
        self._frames = wire.FrameReader(wire.SERVER_KINDS, wire.MAX_SERVER_FRAME)
        self._status: int | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def run(self) -> int:
        reader, self._writer = await asyncio.open_unix_connection(sock=self._sock)
        rows, columns = self._size()
        self._send(wire.hello(wire.Hello(self._pty, rows, columns, self._term)))
        saved = self._raw_mode()
        loop = asyncio.get_running_loop()
        stop: asyncio.Future[int] = loop.create_future()
        self._signals(loop, stop)
        unwatch = self._watch_reader(stop)
        threading.Thread(target=self._read_input, args=(loop,), daemon=True).start()
        try:
            relay = asyncio.ensure_future(self._relay(reader))
            done, _ = await asyncio.wait({relay, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                relay.cancel()
                return stop.result()
            return relay.result()
        finally:
            unwatch()
            for signum in (signal.SIGWINCH, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            if saved is not None:
                termios.tcsetattr(self._in, termios.TCSADRAIN, saved)
            self._writer.close()

    # -- the appliance's output ----------------------------------------------------------
    async def _relay(self, reader: asyncio.StreamReader) -> int:
        """Write what the appliance sends until it closes; the session's exit status."""
        while data := await self._read(reader):
            try:
                frames = self._frames.feed(data)
            except wire.FrameError as exc:
                return self._fail(f"the appliance sent something this console does not "
                                  f"understand ({exc})")
            for kind, payload in frames:
                if kind == wire.DATA:
                    if not self._write(payload):
                        return EXIT_BROKEN_PIPE
                elif kind == wire.EXIT:
                    self._status = wire.parse_status(payload)
                elif kind == wire.REFUSED:
                    return self._fail(payload.decode("utf-8", "replace"))
        if self._status is None:
            return self._fail("the appliance closed the console")
        return self._status

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> bytes:
        """The next bytes; b"" at the end.  A refusal closes the connection with what
        this console sent unread, so a reset after it is an end too."""
        try:
            return await reader.read(_READ)
        except ConnectionResetError:
            return b""

    def _write(self, data: bytes) -> bool:
        try:
            while data:
                data = data[os.write(self._out, data):]
        except BrokenPipeError:
            return False
        return True

    def _fail(self, reason: str) -> int:
        newline = "\r\n" if self._pty else "\n"
        sys.stderr.write(f"{newline if self._pty else ''}segcli: {reason}{newline}")
        sys.stderr.flush()
        return EXIT_REFUSED if self._status is None else self._status

    # -- the console's input -------------------------------------------------------------
    def _read_input(self, loop: asyncio.AbstractEventLoop) -> None:
        """In a thread (stdin may be a file, which no event loop can watch): every byte
        read goes to the appliance; the end of input too."""
        while True:
            try:
                data = os.read(self._in, _READ)
            except OSError:
                data = b""
            frame = wire.frame(wire.DATA, data) if data else wire.frame(wire.EOF)
            try:
                loop.call_soon_threadsafe(self._send, frame)
            except RuntimeError:  # the loop is closed: the console is over
                return
            if not data:
                return

    def _send(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    # -- the terminal ----------------------------------------------------------------------
    def _size(self) -> tuple[int, int]:
        if not self._pty:
            return 0, 0
        try:
            size = os.get_terminal_size(self._out)
        except OSError:
            return 0, 0
        return size.lines, size.columns

    def _raw_mode(self) -> list[Any] | None:
        """At a terminal: keys go to the appliance as typed (Ctrl-C included), as in ssh."""
        if not self._pty:
            return None
        saved = termios.tcgetattr(self._in)
        tty.setraw(self._in, termios.TCSANOW)
        return saved

    def _watch_reader(self, stop: asyncio.Future[int]) -> Callable[[], None]:
        """Output into a pipe whose reader goes away (``| head``) ends the console at once,
        as it ends the plain console, not at the next line ``tail`` writes."""
        if self._pty:
            return lambda: None
        from segcli.terminal.plain import watch_pipe_reader

        def gone() -> None:
            if not stop.done():
                stop.set_result(EXIT_BROKEN_PIPE)

        return watch_pipe_reader(self._stdout, gone)

    def _signals(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Future[int]) -> None:
        def end(status: int) -> None:
            if not stop.done():
                stop.set_result(status)

        def interrupted() -> None:
            if self._pty:  # a signal sent by hand: as the key would
                self._send(wire.frame(wire.DATA, b"\x03"))
            else:  # a script cannot be interrupted otherwise
                end(EXIT_INTERRUPTED)

        loop.add_signal_handler(signal.SIGWINCH, lambda: self._send(wire.window(*self._size())))
        loop.add_signal_handler(signal.SIGINT, interrupted)
        loop.add_signal_handler(signal.SIGTERM, end, 0)
        loop.add_signal_handler(signal.SIGHUP, end, 0)

