"""Paging for a person at a terminal: ``-Press Any Key For More-`` when a window is full.

Commands know nothing of it (DESIGN.md: one command engine, two renderers).  The
interactive renderer passes all its output through a :class:`Pager`, which counts the rows
written since the last prompt against the window's height.  When a page is full and more
output comes, the rest is held, the AsyncOS prompt is shown, and a key releases the next
page; ``q`` or Ctrl-C drops what is held and cancels the command (its output would only be
dropped too).  The command itself never waits: what it writes while the page is shown is
held, so a fast command ends and the person reads its output at their own pace.

The plain renderer has no pager: scripts and automation never page.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable

from rich.cells import cell_len

MORE = "-Press Any Key For More-"
#: The keys that stop the output instead of showing more (prompt_toolkit's key names).
STOP_KEYS = frozenset({"q", "Q", "c-c", "eof"})
#: Output written through as it is (already rendered, escape sequences included).
RAW = "raw"
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")

Emit = Callable[[str, str | None], None]


class Pager:
    """Holds output once a screenful was written since the last prompt, until a key.

    *emit* writes text with a style (None: plain, RAW: as it is) to the terminal, *size*
    gives ``(rows, columns)`` of the window now, *read_key* shows its prompt and waits for
    one key (the terminal is put in raw mode *before* the prompt appears, so a key typed as
    soon as it shows is read as a key), returning its name; *stop* cancels the command.
    """

    def __init__(self, emit: Emit, size: Callable[[], tuple[int, int]],
                 read_key: Callable[[str], Awaitable[str]], stop: Callable[[], object]) -> None:
        self._emit = emit
        self._size = size
        self._read_key = read_key
        self._stop = stop
        self._rows = 0  # rows completed since the last prompt (or key)
        self._column = 0  # cells written on the current row
        self._full = False
        self._held: list[tuple[str, str | None]] = []
        self._waiting: asyncio.Task[None] | None = None
        self._dropping = False

    # -- at a prompt -------------------------------------------------------------------------
    async def drained(self) -> None:
        """Wait until every held page was shown (or dropped): a prompt comes after them."""
        while self._waiting is not None:
            await asyncio.shield(self._waiting)

    def reset(self) -> None:
        """A prompt is shown: the count starts again."""
        self._rows = self._column = 0
        self._full = self._dropping = False

    @property
    def holding(self) -> bool:
        return self._waiting is not None

    # -- output --------------------------------------------------------------------------------
    def write(self, text: str, style: str | None = None) -> None:
        if self._dropping or not text:
            return
        if self._waiting is not None:
            self._held.append((text, style))
            return
        if self._full:
            self._hold(text, style)
            return
        self._feed(text, style)

    def _feed(self, text: str, style: str | None) -> None:
        """Write line by line until the page is full; hold what is left."""
        rows, columns = self._size()
        page = max(rows - 1, 1)  # the last row is for the prompt
        position = 0
        while position < len(text):
            end = text.find("\n", position)
            if end < 0:
                piece = text[position:]
                self._emit(piece, style)
                self._column += _cells(piece)
                return
            piece = text[position:end + 1]
            self._emit(piece, style)
            self._rows += max(1, math.ceil((self._column + _cells(piece[:-1])) / max(columns, 1)))
            self._column = 0
            position = end + 1
            if self._rows >= page:
                self._full = True
                if position < len(text):
                    self._hold(text[position:], style)
                return

    def _hold(self, text: str, style: str | None) -> None:
        self._held.append((text, style))
        self._waiting = asyncio.ensure_future(self._more())

    async def _more(self) -> None:
        """Show the prompt, wait for a key, then the next page -- or drop the rest."""
        try:
            key = await self._read_key(MORE)
        except (EOFError, OSError):
            key = "eof"
        finally:
            self._emit("\r" + " " * len(MORE) + "\r", RAW)
        held, self._held = self._held, []
        self._waiting = None
        if key in STOP_KEYS:
            self._dropping = True
            self._stop()
            return
        self._rows = self._column = 0
        self._full = False
        for text, style in held:
            self.write(text, style)


def _cells(text: str) -> int:
    """How many columns *text* takes on the screen (escape sequences take none)."""
    return cell_len(_ESCAPES.sub("", text))
