"""The plain renderer: literal AsyncOS prompts over a line stream, for scripts.

Used when stdin is not a terminal, for ``TERM=dumb``, with ``--plain``, and (later)
for SSH exec and pty-less SSH sessions.  No escape sequences, no cursor-position
queries; each answer is echoed after its prompt so a transcript reads like the
appliance's own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
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

    @property
    def width(self) -> int:
        return self._width

    def write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    def error(self, text: str) -> None:
        self.write(text)

    def show(self, renderable: Any) -> None:
        console = Console(file=self._out, width=self._width, color_system=None,
                          force_terminal=False, highlight=False, emoji=False)
        console.print(renderable)

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
