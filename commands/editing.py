"""Helpers the configuration commands share: all-or-nothing recording, value parsing
for one-line forms and dialog validators, and ``keyword value`` option lists.

The rule every command follows: a one-line form checks all its changes on a scratch
copy before recording any, so a failed line changes nothing; an interactive answer
that a change would refuse is reported and the question asked again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from commands.errors import CommandError, UsageError
from commands.session import CliSession
from engine.config.addresses import InvalidValue
from engine.config.changes import Change
from engine.config.model import ConfigError
from engine.config.values import format_number

T = TypeVar("T")
C = TypeVar("C", bound=Change)


def usage(command: str, form: str) -> UsageError:
    """The appliance's wording for a malformed one-line form, naming the right form."""
    return UsageError(f"Invalid arguments when processing: usage is {command} {form}")


def record_all(session: CliSession, changes: Sequence[Change]) -> None:
    """Record every change or none, so a failed command line leaves nothing pending."""
    session.record(*changes)


def accept(session: CliSession, changes: Sequence[C]) -> list[C]:
    """For a dialog validator: a change that would be refused makes the question be
    asked again (InvalidValue) instead of ending the command."""
    try:
        session.pending.check(changes)
    except ConfigError as exc:
        raise InvalidValue(str(exc)) from None
    return list(changes)


def checked(parse: Callable[..., T], text: Any, *args: Any) -> T:
    """Run a value parser for a one-line form: its InvalidValue ends the command."""
    try:
        return parse(text, *args)
    except InvalidValue as exc:
        raise CommandError(str(exc)) from None


def parse_on_off(word: str) -> bool:
    lowered = word.lower()
    if lowered in ("on", "yes", "y", "enable", "1"):
        return True
    if lowered in ("off", "no", "n", "disable", "0"):
        return False
    raise InvalidValue(f'"{word}" is not valid: enter on or off.')


def parse_options(words: Sequence[str], parsers: dict[str, Callable[[str], Any]], *,
                  form: UsageError) -> dict[str, Any]:
    """``keyword value`` pairs in any order (keywords in any case), each parsed once.

    An unknown keyword, a keyword given twice or a keyword without a value is the
    usage error *form*; a bad value is its parser's message.
    """
    if len(words) % 2:
        raise form
    options: dict[str, Any] = {}
    for keyword, text in zip(words[::2], words[1::2], strict=True):
        key = keyword.lower()
        if key not in parsers or key in options:
            raise form
        options[key] = checked(parsers[key], text)
    return options


def join_words(words: Sequence[str]) -> str:
    """Several words of a comma separated list, as one text (``a, b`` typed unquoted)."""
    return ",".join(words)


def seconds_text(value: float) -> str:
    """``1 second``, ``0.5 seconds``, ``60 seconds``."""
    return f"{format_number(value)} second{'' if value == 1 else 's'}"
