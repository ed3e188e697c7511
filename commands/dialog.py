"""AsyncOS dialog conventions, written once.

Questions show their default in brackets (``[]>``, ``[Y]>``, ``[1]>``), Enter takes the
default, a wrong answer prints the appliance's message and the question is asked
again, a blank answer at a menu goes back one level.  Commands are written as
straight-line async code on top of these helpers.

The dialog is the one way commands print text, so it is where text from outside is made
safe for a terminal: log lines (``tail``, ``grep``, ``findevent``), subjects and addresses
from message tracking, a remote server's replies (``telnet``), a name a person typed
and an error quotes back.  Every text and prompt goes through
:func:`engine.config.text.shown` (``\\x1b`` for ESC, ...; line breaks of our own kept),
so no escape sequence reaches anyone's terminal, while any script stays readable.

The dialog is also where a question meets the end of input (a piped script or an SSH exec
request with nothing left to answer with): the EndOfInput it raises names the question,
so every command reports alike what it waited for (``no answer to 'Sort results by' (the
input ended)``) and the session prints that after the command's name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, overload

from commands.io import EndOfInput, Terminal
from engine.config.addresses import InvalidValue
from engine.config.text import is_digits, shown

T = TypeVar("T")
Validator = Callable[[str], T]


class Dialog:
    """Questions and answers over a :class:`~commands.io.Terminal`.

    ``errors`` counts the wrong answers given; a session uses it to report failure
    to scripts even when a later answer was right.
    """

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.errors = 0

    # -- output --------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        """Print *text* and a line end; control characters in it appear escaped."""
        self.terminal.write(_printable(text) + "\n")

    def error(self, text: str) -> None:
        self.errors += 1
        self.terminal.error(_printable(text) + "\n")

    def show(self, renderable: Any) -> None:
        self.terminal.show(renderable)

    # -- questions -----------------------------------------------------------------
    @overload
    async def ask(self, question: str, *, default: str | None = ..., validate: Validator[T],
                  choices: Sequence[str] = ..., secret: bool = ...) -> T: ...

    @overload
    async def ask(self, question: str, *, default: str | None = ..., validate: None = ...,
                  choices: Sequence[str] = ..., secret: bool = ...) -> str: ...

    async def ask(
        self,
        question: str,
        *,
        default: str | None = None,
        validate: Validator[T] | None = None,
        choices: Sequence[str] = (),
        secret: bool = False,
    ) -> T | str:
        """Ask on its own line, then ``[default]>``; re-ask until *validate* accepts.

        *validate* returns the value to use or raises InvalidValue.  With no default,
        an empty answer is passed to *validate* like any other (it may mean "none").
        """
        while True:
            if question:
                self.say()
                self.say(question)
            prompt = f"[{'' if default is None or secret else default}]> "
            answer = await self._read(prompt, choices=choices, secret=secret,
                                      about=topic(question, prompt))
            if not secret:  # a password is taken as typed: its spaces are part of it
                answer = answer.strip()
            if not answer and default is not None:
                answer = default
            if validate is None:
                return answer
            try:
                return validate(answer)
            except InvalidValue as exc:
                self.error(str(exc))

    @overload
    async def ask_required(self, question: str, *, validate: Validator[T],
                           default: str | None = ..., choices: Sequence[str] = ...) -> T: ...

    @overload
    async def ask_required(self, question: str, *, validate: None = ...,
                           default: str | None = ..., choices: Sequence[str] = ...) -> str: ...

    async def ask_required(self, question: str, *, validate: Validator[T] | None = None,
                           default: str | None = None, choices: Sequence[str] = ()) -> T | str:
        """Like :meth:`ask`, but a blank answer (with no default) is refused."""

        def check(answer: str) -> T | str:
            if not answer:
                raise InvalidValue("You must enter a value.")
            return validate(answer) if validate else answer

        return await self.ask(question, default=default, validate=check, choices=choices)

    async def confirm(self, question: str, *, default: bool) -> bool:
        """A yes/no question with the bracket on the same line: ``Sure? [N]>``."""
        while True:
            self.say()
            answer = (await self._read(
                f"{question} [{'Y' if default else 'N'}]> ", choices=("Y", "N"), about=question
            )).strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.error("Please answer Y or N.")

    async def menu(self, options: Sequence[tuple[str, str]], *,
                   heading: str = "Choose the operation you want to perform:") -> str | None:
        """An operations menu (``- NEW - Create a new policy``).

        Returns the chosen keyword in upper case, or None for a blank answer (go back).
        Keywords are accepted in any case.
        """
        keywords = [keyword for keyword, _ in options]
        while True:
            self.say()
            self.say(heading)
            for keyword, description in options:
                self.say(f"- {keyword} - {description}")
            answer = (await self._read("[]> ", choices=keywords, about=heading)).strip()
            if not answer:
                return None
            if answer.upper() in keywords:
                return answer.upper()
            self.error(f"Unknown option: {answer}")

    @overload
    async def choose(self, items: Sequence[str], question: str, *, default: int | None = ...,
                     allow_blank: Literal[False] = ..., heading: str | None = ...) -> int: ...

    @overload
    async def choose(self, items: Sequence[str], question: str, *, default: int | None = ...,
                     allow_blank: bool, heading: str | None = ...) -> int | None: ...

    async def choose(
        self,
        items: Sequence[str],
        question: str,
        *,
        default: int | None = None,
        allow_blank: bool = False,
        heading: str | None = None,
    ) -> int | None:
        """Print a numbered list and return the 0-based index of the choice.

        *heading* stands directly above the list (AsyncOS puts the question there:
        "Would you like to configure ...?"), *question* below it ("Enter the name or
        number ...").  Items can be chosen by number or by name (case-insensitive), the name
        as it is shown (an item from outside, a log line, shows its control characters
        escaped).  With *allow_blank*, a blank answer returns None (go back).
        """
        items = [_printable(item) for item in items]
        while True:
            self.say()
            if heading:
                self.say(heading)
            for number, item in enumerate(items, 1):
                self.say(f"{number}. {item}")
            if question:
                self.say(question)
            answer = (await self._read(
                f"[{'' if default is None else default + 1}]> ", choices=items,
                about=topic(question, heading or "", "a choice from the list")
            )).strip()
            if not answer:
                if default is not None:
                    return default
                if allow_blank:
                    return None
                self.error("You must enter a value.")
                continue
            index = pick(items, answer)
            if index is not None:
                return index
            self.error(f'"{answer}" is not a valid choice: enter a number from 1 to {len(items)} '
                       "or a name from the list.")

    async def ask_number(self, question: str, *, low: int, high: int,
                         default: int | None = None) -> int:
        def check(answer: str) -> int:
            if not is_digits(answer) or not low <= int(answer) <= high:
                raise InvalidValue(f"The value must be an integer from {low} to {high}.")
            return int(answer)

        answer = await self.ask(question, default=None if default is None else str(default),
                                validate=check)
        return int(answer)

    async def read_document(self, instructions: str) -> str:
        """Read pasted lines until Ctrl-D (end of input) or a line holding only ``.``."""
        self.say()
        self.say(instructions)
        lines: list[str] = []
        while True:
            try:
                line = await self._read("", about=instructions)
            except EndOfInput:
                break
            if line.strip() == ".":
                break
            lines.append(line)
        return "\n".join(lines)

    async def _read(self, prompt: str, *, about: str, choices: Sequence[str] = (),
                    secret: bool = False) -> str:
        """One answer from the terminal after *prompt*, printed safely like any text.

        When the input has ended, the EndOfInput raised says which question (*about*)
        went unanswered, so a script learns why its command failed."""
        try:
            return await self.terminal.ask(_printable(prompt), choices=choices, secret=secret)
        except EndOfInput:
            raise EndOfInput(unanswered(about)) from None


def unanswered(question: str) -> str:
    """What a command that met the end of input at *question* reports (after its name)."""
    return f"no answer to '{_printable(topic(question))}' (the input ended)"


def topic(*texts: str) -> str:
    """The question to name when no answer came: the last line of the first non-blank
    of *texts*, without its closing colon (``Sort results by:`` -> ``Sort results by``)."""
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1].rstrip(":").rstrip()
    return "a question"


def _printable(text: str) -> str:
    """*text* as it may reach a terminal: our own line breaks, no other control character."""
    return shown(text, keep="\n")


def pick(items: Sequence[str], answer: str) -> int | None:
    """Index of the item chosen by *answer* (a 1-based number or a name), else None."""
    if is_digits(answer):
        number = int(answer)
        return number - 1 if 1 <= number <= len(items) else None
    lowered = [item.lower() for item in items]
    if answer.lower() in lowered:
        return lowered.index(answer.lower())
    return None
