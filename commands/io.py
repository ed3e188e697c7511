"""The I/O port: the only way a command talks to a person.

``segcli/`` implements it twice (prompt_toolkit for a person at a terminal, plain
lines for scripts and SSH exec), and tests implement it with a script.  Nothing in
``commands/`` knows which one it is talking to.

Commands print through :class:`commands.dialog.Dialog`, which escapes every control
character in what it is given; a Terminal writes text exactly as it gets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Cancelled(Exception):
    """The person pressed Ctrl-C: abandon the command and return to the prompt."""


class EndOfInput(Exception):
    """Input ended (Ctrl-D, end of a piped script, closed channel).

    A Terminal raises it bare; :class:`commands.dialog.Dialog` raises it again with a
    message naming the question left unanswered, which the session prints for scripts."""


class Terminal(Protocol):
    #: A person at a real terminal (colours, completion, paging); False for scripts.
    interactive: bool

    @property
    def width(self) -> int: ...

    def write(self, text: str) -> None:
        """Write text exactly as given (the caller supplies line ends)."""

    def error(self, text: str) -> None:
        """Write an error message (a renderer may colour it)."""

    def show(self, renderable: Any) -> None:
        """Write a rich renderable (plain renderers print it as text)."""

    async def read_command(self, prompt: str) -> str:
        """Read a command line at the main prompt; EndOfInput when input ends."""

    async def ask(self, prompt: str, *, choices: Sequence[str] = (), secret: bool = False) -> str:
        """Read one answer after *prompt* (its last line, e.g. ``[Y]> ``).

        Raises Cancelled on Ctrl-C and EndOfInput when input ends."""
