"""Command lines: how long one may be, and how it splits into words.

Every renderer hands :class:`~commands.session.CliSession` a line; the session refuses one
longer than :data:`MAX_COMMAND_LINE` before looking at it, then splits it here.  The
splitting follows the shell's quoting (``shlex.split``, POSIX mode: single quotes keep
everything, double quotes let a backslash escape only ``"`` and ``\\``, a backslash outside
quotes escapes any character) but in one pass: ``shlex`` grows each word one character at
a time and takes quadratic time on a long word, which on the event loop stalls the mail.
"""

from __future__ import annotations

import re

#: The longest command line the CLI takes, in characters (the SSH exec request counts as
#: one line).  AsyncOS documents no limit, so this one is ours and generous: four times
#: POSIX's LINE_MAX (2048), and about three times the longest one-line form anybody types
#: or scripts (``userconfig sshkey add`` with an RSA-16384 public key is about 2,800
#: characters).  Longer input is a mistake or an attack; refusing it keeps every session's
#: memory and work small.  Answers to questions are bounded by their reader, not here.
MAX_COMMAND_LINE = 8 * 1024

#: The characters that separate words (shlex's POSIX whitespace).
_SPACE = " \t\r\n"
#: A run of characters with no special meaning outside quotes.
_PLAIN = re.compile(r"[^ \t\r\n'\"\\]+")
#: A run inside double quotes up to the next ``"`` or backslash.
_IN_DOUBLE = re.compile(r"[^\"\\]+")

NO_CLOSING_QUOTE = "No closing quotation"
NO_ESCAPED_CHARACTER = "No escaped character"


def too_long(line: str) -> str | None:
    """The error for a line over :data:`MAX_COMMAND_LINE`, or None when it is fine.

    The message names the sizes, never the line: echoing a megabyte back helps nobody.
    """
    if len(line) <= MAX_COMMAND_LINE:
        return None
    return (f"Invalid arguments when processing: the command line is {len(line):,} "
            f"characters long; the limit is {MAX_COMMAND_LINE:,}.")


def split_words(line: str) -> list[str]:
    """The words of *line*, as ``shlex.split`` gives them, in time linear in its length.

    Raises ValueError with shlex's own messages for an unclosed quote or a trailing
    backslash, so callers see the same errors as before.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False  # also true for a word made of an empty pair of quotes
    position, end = 0, len(line)
    while position < end:
        char = line[position]
        if char in _SPACE:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            position += 1
            continue
        in_word = True
        if char == "\\":
            if position + 1 == end:
                raise ValueError(NO_ESCAPED_CHARACTER)
            word.append(line[position + 1])
            position += 2
        elif char == "'":
            closing = line.find("'", position + 1)
            if closing < 0:
                raise ValueError(NO_CLOSING_QUOTE)
            word.append(line[position + 1:closing])
            position = closing + 1
        elif char == '"':
            position = _double_quoted(line, position + 1, word)
        else:
            match = _PLAIN.match(line, position)
            assert match is not None  # char is none of the special ones
            word.append(match.group())
            position = match.end()
    if in_word:
        words.append("".join(word))
    return words


def _double_quoted(line: str, position: int, word: list[str]) -> int:
    """Add the text of a double-quoted piece that starts at *position* (after its opening
    quote) to *word*; return the position after its closing quote."""
    end = len(line)
    while position < end:
        char = line[position]
        if char == '"':
            return position + 1
        if char == "\\":
            if position + 1 == end:
                raise ValueError(NO_ESCAPED_CHARACTER)
            escaped = line[position + 1]
            # Inside double quotes only the quote and the backslash itself are escaped;
            # any other backslash stays (``"\d+"`` is the regular expression ``\d+``).
            word.append(escaped if escaped in '"\\' else "\\" + escaped)
            position += 2
        else:
            match = _IN_DOUBLE.match(line, position)
            assert match is not None
            word.append(match.group())
            position = match.end()
    raise ValueError(NO_CLOSING_QUOTE)
