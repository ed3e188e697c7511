"""The plain renderer: literal AsyncOS prompts over a line stream, for scripts.

Used when stdin is not a terminal, for ``TERM=dumb``, with ``--plain``, and (later)
for SSH exec and pty-less SSH sessions.  No escape sequences, no cursor-position
queries; each answer is echoed after its prompt so a transcript reads like the
appliance's own.

Its output may be a pipe whose reader goes away (``segcli ... | head -3``): the terminal
then drops what is written and says so once (``on_output_closed``), so that the session
ends as a command line tool ends on SIGPIPE instead of failing on every write; and
:func:`watch_pipe_reader` notices a reader gone while nothing is written (a headless lab,
a ``tail`` with nothing new).
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO

from rich.console import Console

from commands.io import EndOfInput


class LineSource(Protocol):
    """Where the plain renderer's lines come from: stdin (:class:`ThreadedLineReader`)
    or an SSH channel (``segcli.ssh.lines``)."""

    async def readline(self) -> str | None:
        """The next line without its line end, or None at end of input."""
        ...


class ThreadedLineReader:
    """Reads lines from a blocking file in a thread and hands them to the event loop.

    A thread works for every kind of stdin (pipe, regular file, /dev/null), where the
    loop's own readers accept only pipes and sockets.
    """

    def __init__(self, stream: TextIO, loop: asyncio.AbstractEventLoop) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop = loop
        threading.Thread(target=self._pump, args=(stream,), daemon=True, name="stdin").start()

    def _pump(self, stream: TextIO) -> None:
        try:
            for line in stream:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
        finally:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    async def readline(self) -> str | None:
        """The next line without its line end, or None at end of input."""
        line = await self._queue.get()
        if line is None:
            self._queue.put_nowait(None)  # stay at end of input
            return None
        return line.rstrip("\r\n").rstrip("\r")


class PlainTerminal:
    interactive = False

    def __init__(self, reader: LineSource, out: TextIO, *, echo: bool = True,
                 width: int = 80) -> None:
        self._reader = reader
        self._out = out
        self._echo = echo
        self._width = width
        #: Called once when the output's reader has gone away (a broken pipe).
        self.on_output_closed: Callable[[], None] = lambda: None
        self.output_closed = False

    @property
    def width(self) -> int:
        return self._width

    def write(self, text: str) -> None:
        if self.output_closed:
            return
        try:
            self._out.write(text)
            self._out.flush()
        except BrokenPipeError:
            self.close_output()

    def error(self, text: str) -> None:
        self.write(text)

    def show(self, renderable: Any) -> None:
        if self.output_closed:
            return
        console = Console(file=self._out, width=self._width, color_system=None,
                          force_terminal=False, highlight=False, emoji=False)
        try:
            console.print(renderable)
        except BrokenPipeError:
            self.close_output()

    def close_output(self) -> None:
        """Nobody reads the output any more: drop what is written from now on, and say
        so (once) to whoever ends the session."""
        if not self.output_closed:
            self.output_closed = True
            self.on_output_closed()

    async def read_command(self, prompt: str) -> str:
        return await self.ask(prompt)

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        self.write(prompt)
        line = await self._reader.readline()
        if line is None:
            self.write("\n")
            raise EndOfInput
        if self._echo:
            self.write(("" if secret else line) + "\n")
        return line


def watch_pipe_reader(stream: TextIO, gone: Callable[[], None]) -> Callable[[], None]:
    """Call *gone* once when the reader of *stream* goes away, if *stream* is a pipe;
    return what stops watching.

    The write end of a pipe never becomes readable, but Linux's epoll reports an error on
    it when the read end closes, which asyncio hands to a reader callback.  Elsewhere
    (other systems, a file, a terminal: a terminal is readable when a key is pressed)
    nothing is watched, and a closed output is noticed at the next write.
    """
    try:
        fd = stream.fileno()
        is_pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
    except (AttributeError, OSError, ValueError):
        is_pipe = False
    if not is_pipe or not sys.platform.startswith("linux"):
        return lambda: None
    loop = asyncio.get_running_loop()

    def stop() -> None:
        loop.remove_reader(fd)

    def closed() -> None:
        stop()
        gone()

    loop.add_reader(fd, closed)
    return stop
