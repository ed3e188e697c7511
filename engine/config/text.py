"""Printable text: the one rule every string obeys before it enters the configuration.

Whatever a person types at the CLI, an XML document holds or a web form sends ends up in
the committed XML document, in mail log lines and on other people's terminals.  A control
character there is not merely untidy: XML 1.0 cannot hold most of them, so a committed
document with one could not be read back (a policy named ``p\\x01x`` once stopped every
later commit, and the appliance from starting), and an escape sequence echoed in a listing
or an error message would drive the reader's terminal.  So every check of a single value
(:mod:`.addresses`, :mod:`.values`, the model's names, the change records, the accounts)
starts with :func:`check_text`, and :func:`text_problems` walks a whole configuration.

Refused, unless a field explicitly allows some (the line breaks of PEM text):

- C0 control characters (U+0000 to U+001F, tab and line breaks included), DEL (U+007F)
  and the C1 control characters (U+0080 to U+009F, which some terminals obey too);
- unpaired surrogates (U+D800 to U+DFFF: not text at all, they cannot even be encoded
  as UTF-8) and U+FFFE, U+FFFF (not allowed in XML);
- the line and paragraph separators (U+2028, U+2029), which break a line where none is
  shown, and the bidirectional embeddings, overrides and isolates (U+202A to U+202E,
  U+2066 to U+2069), which reorder what a terminal shows after them.

Nothing here knows the configuration classes: it is the bottom of ``engine.config``.

Tests: tests/engine/config/test_printable_text.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

#: The longest text any single value may have; each field has its own, shorter bound
#: (a policy name 64 characters, a host name 253...) in its own check.
MAX_TEXT = 65536
#: The most digits a number may have (:func:`is_digits`): 10**18 exceeds every bound.
MAX_DIGITS = 18
#: A commit comment (shown by ``rollbackconfig``).
MAX_COMMENT = 1024

_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029"
                        "\u202a-\u202e\u2066-\u2069]")


class InvalidValue(ValueError):
    """A value a person typed is not acceptable; the message says why, AsyncOS-style."""


def text_problem(text: str, *, allow: str = "") -> str | None:
    """The first character of *text* that is not allowed, described for a person
    (``the control character U+0001 at position 2``), or None when all are allowed.

    The character itself is never part of the description: printing it is the harm.
    """
    for match in _FORBIDDEN.finditer(text):
        char = match.group()
        if char not in allow:
            return f"the {_kind(char)} U+{ord(char):04X} at position {match.start() + 1}"
    return None


def _kind(char: str) -> str:
    code = ord(char)
    if code <= 0x9F:
        return "control character"
    if 0xD800 <= code <= 0xDFFF:
        return "unpaired surrogate"
    if char in "\ufffe\uffff":
        return "non-character"
    if char in "\u2028\u2029":
        return "line separator"
    return "bidirectional control character"


def check_text(text: str, what: str, *, max_length: int = MAX_TEXT, allow: str = "") -> str:
    """*text* unchanged when it is printable and at most *max_length* characters long;
    otherwise InvalidValue naming *what* (``policy name``) and the problem."""
    if not isinstance(text, str):
        raise InvalidValue(f"The {what} must be text.")
    problem = text_problem(text, allow=allow)
    if problem is not None:
        raise InvalidValue(f"The {what} cannot contain {problem}: enter printable text.")
    if len(text) > max_length:
        raise InvalidValue(f"The {what} must be at most {max_length} characters long.")
    return text


def shown(text: str, *, keep: str = "") -> str:
    """*text* made safe to print or log: each character the rule refuses, but those in
    *keep*, appears as Python writes it in a string literal: ``\\x1b``, ``\\x00``,
    ``\\x7f``, ``\\x85``, ``\\t``, ``\\n``, ``\\r``, ``\\u2028``, ``\\ud800``.  Any other
    character is left as it is: a subject in any script stays readable.  A backslash is not
    doubled, so ``\\x1b`` in the output may also have been typed: the escape only ever stands
    for what cannot be shown, and no text can forge a line break or a terminal sequence.

    The one escape of everything that came from outside and is shown: the mail log writes
    every line through it, the CLI's dialog every text it prints, and ``rollbackconfig``
    the comments of commits an older segcli made before the rule was kept everywhere.
    """
    if text.isprintable():  # the common case, and cheap: what the rule refuses is never printable
        return text
    return _FORBIDDEN.sub(lambda match: _escape(match.group(), keep), text)


def _escape(char: str, keep: str) -> str:
    return char if char in keep else char.encode("unicode_escape").decode("ascii")


def is_digits(text: str) -> bool:
    """Whether *text* is a number as people type one: 1 to 18 ASCII digits.

    ``str.isdigit()`` is also true of "²" (U+00B2) and other digits ``int()`` refuses,
    and ``int()`` refuses more than 4,300 digits too (each an application fault where a
    number was read): every number typed or read from a document is checked with this
    before ``int()``.  No setting or count goes beyond 18 digits, so a longer one is
    refused like any other word that is not a number in range.
    """
    return 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def check_comment(comment: str) -> str:
    """A commit comment: printable, at most :data:`MAX_COMMENT` characters (may be empty)."""
    return check_text(comment.strip(), "comment", max_length=MAX_COMMENT)


def text_problems(value: object, path: str, *, multiline: frozenset[str] = frozenset()) -> list[str]:
    """Every string in a tree of dataclasses, lists and dicts that breaks the rule, each
    named by its path (``incoming.policies[1].name``).

    This is the safety net under the per-field checks: a field added to the model later
    is covered without anyone remembering to.  Attributes named in *multiline* may hold
    line breaks (PEM certificates).
    """
    found: list[str] = []
    for where, text in _strings(value, path, multiline):
        allow = "\r\n" if where.partition("[")[0] in multiline else ""
        try:
            check_text(text, "value", allow=allow)
        except InvalidValue as exc:
            found.append(f"{where}: {exc}")
    return found


def _strings(value: object, path: str, multiline: frozenset[str]) -> Iterator[tuple[str, str]]:
    """``(path, text)`` for every string inside *value*; a dict key is named by its
    number, never by itself (the key may be the very text that must not be shown)."""
    if isinstance(value, str):
        yield path, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            inner = f"{path}.{item.name}" if path else item.name
            yield from _strings(getattr(value, item.name), inner, multiline)
    elif isinstance(value, list | tuple):
        for number, entry in enumerate(value, 1):
            yield from _strings(entry, f"{path}[{number}]", multiline)
    elif isinstance(value, dict):
        for number, (key, entry) in enumerate(value.items(), 1):
            yield from _strings(key, f"{path}[{number}] (name)", multiline)
            yield from _strings(entry, f"{path}[{number}]", multiline)
