"""Lines from an SSH channel, for the plain renderer (:class:`segcli.terminal.plain.PlainTerminal`).

Bytes arrive in whatever pieces the client sends.  A line ends at ``\\r\\n``, ``\\r\\0``
(telnet style), ``\\n`` or a lone ``\\r`` -- each exactly once, even when the pair is
split across two packets.  Bytes that are not UTF-8 become U+FFFD and control
characters are dropped, so garbage never reaches a command as anything but an unknown
word.  Nothing here knows about Twisted: the channel feeds bytes in, the renderer
awaits ``readline()``.
"""

from __future__ import annotations

import asyncio
import codecs
from collections import deque
from collections.abc import Callable

from commands.command_line import too_long

#: Keys typed ahead (while a command runs) wait in memory up to this much; a client that
#: sends more than a person could type loses the rest rather than the server its memory.
MAX_TYPEAHEAD = 1024 * 1024
#: A line longer than this is cut: no command or answer comes near it, and a client
#: sending an endless line must not grow the server's memory without bound.
MAX_LINE = 64 * 1024

_CR, _LF, _NUL = "\r", "\n", "\0"
_ESC, _DEL, _BS = "\x1b", "\x7f", "\b"
_CTRL_C, _CTRL_D, _CTRL_U = "\x03", "\x04", "\x15"


def split_commands(text: str) -> list[str]:
    """Split an exec request (``tophosts 1; status``) on ``;`` outside quotes.

    Quotes and backslashes are kept in the pieces: each piece is a command line that
    the session parses as usual.  Blank pieces are dropped.  A request longer than a
    command line may be is left whole, unread, for the session to refuse.
    """
    if too_long(text) is not None:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    quote: str | None = None
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == ";":
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return [piece.strip() for piece in pieces if piece.strip()]


def _printable(char: str) -> bool:
    return char == "\t" or not (char < " " or _DEL <= char < "\xa0")


class _Decoder:
    """UTF-8 in pieces; a character split across two packets is decoded once whole."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class _LineQueue:
    """Complete lines waiting for ``readline()``; None marks the end of input.

    Lines sent ahead wait up to :data:`MAX_TYPEAHEAD` characters in all; past that they
    are dropped, as the keyboard reader drops keys."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._waiting = 0  # characters in the queue, a line end counted as one
        self.ended = False

    def put(self, line: str) -> None:
        if not self.ended and self._waiting + len(line) + 1 <= MAX_TYPEAHEAD:
            self._waiting += len(line) + 1
            self._queue.put_nowait(line)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._queue.put_nowait(None)

    async def readline(self) -> str | None:
        line = await self._queue.get()
        if line is None:
            self._queue.put_nowait(None)  # stay at end of input
        else:
            self._waiting -= len(line) + 1
        return line


class ChannelLineReader:
    """Lines of a session without a pty (``ssh -T``, a piped script, exec answers).

    The client's side does any editing; every byte is taken as sent.  A last line
    without a line end still counts when the input ends.
    """

    def __init__(self) -> None:
        self._decoder = _Decoder()
        self._lines = _LineQueue()
        self._current: list[str] = []
        self._after_cr = False

    def feed(self, data: bytes) -> None:
        for char in self._decoder.decode(data):
            self._take(char)

    def _take(self, char: str) -> None:
        if self._after_cr:
            self._after_cr = False
            if char in (_LF, _NUL):
                return  # the second half of a CR LF or CR NUL line end
        if char in (_CR, _LF):
            self._after_cr = char == _CR
            self._lines.put("".join(self._current))
            self._current = []
        elif _printable(char) and len(self._current) < MAX_LINE:
            self._current.append(char)

    def end(self) -> None:
        for char in self._decoder.flush():
            self._take(char)
        if self._current:
            self._lines.put("".join(self._current))
            self._current = []
        self._lines.end()

    async def readline(self) -> str | None:
        """The next line without its line end, or None at end of input."""
        return await self._lines.readline()


class KeyboardLineReader:
    """Lines typed at a pty in plain mode, edited and echoed by the server (the client's
    terminal is raw), the way a readline-style CLI does it.

    Keys are taken when a prompt waits for a line: what is typed ahead while a command
    runs (or before the first prompt) waits, and its echo follows the next prompt, so a
    transcript always reads prompt, answer, output.  Only Ctrl-C acts at once: while
    no prompt waits it drops what was typed ahead and calls *on_interrupt* (cancel the
    running command); at a prompt it drops the line and calls *on_interrupt* too (which
    then shows a fresh prompt).  Backspace and Delete erase a character, Ctrl-U the
    line, Ctrl-D on an empty line ends the input; cursor keys and other escape
    sequences are ignored.  While ``secret`` is set (a password question) nothing typed
    is echoed.
    """

    def __init__(self, echo: Callable[[str], object], on_interrupt: Callable[[], None]) -> None:
        self._echo = echo
        self._on_interrupt = on_interrupt
        self._decoder = _Decoder()
        self._lines = _LineQueue()
        self._typed_ahead: deque[str] = deque()
        self._ended = False
        self._wanted = False  # a prompt waits for a line
        self._current: list[str] = []
        self._after_cr = False
        self._escape: str | None = None  # the escape sequence being skipped
        self.secret = False

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if not self._wanted and _CTRL_C in text:
            text = text.rpartition(_CTRL_C)[2]
            self._typed_ahead.clear()
            self._on_interrupt()
        room = MAX_TYPEAHEAD - len(self._typed_ahead)
        self._typed_ahead.extend(text[:max(room, 0)])
        self._pump()

    def end(self) -> None:
        """The client sends no more: lines typed ahead are still read, then None."""
        self._ended = True
        self._pump()

    async def readline(self) -> str | None:
        """The next line (its echo shown now), or None at the end of input."""
        self._wanted = True
        self._pump()
        try:
            return await self._lines.readline()
        finally:
            self._wanted = False

    def _pump(self) -> None:
        """Take typed-ahead keys while a prompt waits, up to the end of one line."""
        while self._wanted and self._typed_ahead:
            self._take(self._typed_ahead.popleft())
        if self._wanted and self._ended and not self._typed_ahead:
            if self._current:
                self._line_done()
            self._lines.end()

    def _line_done(self) -> None:
        self._wanted = False  # the next line waits for the next prompt
        self._lines.put("".join(self._current))
        self._current = []

    def _take(self, char: str) -> None:
        if self._escape is not None:
            self._skip_escape(char)
            return
        if self._after_cr:
            self._after_cr = False
            if char in (_LF, _NUL):
                return
        if char in (_CR, _LF):
            self._after_cr = char == _CR
            self._echo("\r\n")
            self._line_done()
        elif char in (_DEL, _BS):
            if self._current:
                self._current.pop()
                self._show("\b \b")
        elif char == _CTRL_U:
            self._show("\b \b" * len(self._current))
            self._current = []
        elif char == _CTRL_C:
            self._current = []
            self._on_interrupt()
        elif char == _CTRL_D:
            if not self._current:
                self._ended = True
                self._typed_ahead.clear()
        elif char == _ESC:
            self._escape = ""
        elif _printable(char) and len(self._current) < MAX_LINE:
            self._current.append(char)
            self._show(char)

    def _skip_escape(self, char: str) -> None:
        """Skip ``ESC x``, ``ESC [ ... final`` and ``ESC O x`` (cursor and function keys)."""
        escape = self._escape = (self._escape or "") + char
        introducer = escape[0]
        if introducer == "[" and len(escape) > 1:
            if "@" <= char <= "~":
                self._escape = None
        elif (introducer == "O" and len(escape) > 1) or introducer not in "[O":
            self._escape = None

    def _show(self, text: str) -> None:
        if not self.secret:
            self._echo(text)
