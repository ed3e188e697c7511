"""Where each value of a TOML file is: its line, by the field path people read.

:mod:`tomllib` gives values without positions, yet a trainer needs "line 42" to find the
regex that does not compile.  This is a small scanner that runs over text tomllib has
already accepted and notes the line on which every table, key and array item starts, under
the same path the loader names fields with: ``phase[1].expect[3].sequence[2]`` (arrays
counted from 1, as a person counts).  It needs no error handling of its own: the text is
valid TOML, and anything it cannot follow only makes a line less precise.
"""

from __future__ import annotations

import contextlib
import re

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class SourceMap:
    """The lines of a TOML text's tables, keys and array items, by field path."""

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        self._text = text
        self._pos = 0
        self._line = 1
        self._arrays: dict[str, int] = {}  # array-of-tables path -> items so far
        # Past what it understands, the lines found so far stand.
        with contextlib.suppress(IndexError, ValueError):
            self._document()

    def line(self, field: str, default: int = 0) -> int:
        """The line of *field*, else of the nearest enclosing field that has one."""
        path = field
        while path:
            if path in self.lines:
                return self.lines[path]
            path = _parent(path)
        return default

    # -- scanning --------------------------------------------------------------------------
    def _peek(self, length: int = 1) -> str:
        return self._text[self._pos:self._pos + length]

    def _advance(self, count: int = 1) -> None:
        chunk = self._text[self._pos:self._pos + count]
        self._line += chunk.count("\n")
        self._pos += count

    def _skip_blank(self, *, newlines: bool) -> None:
        """Skip spaces and comments (and newlines, when *newlines*)."""
        while self._pos < len(self._text):
            char = self._text[self._pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self._advance()
            elif char == "#":
                end = self._text.find("\n", self._pos)
                self._advance((end if end >= 0 else len(self._text)) - self._pos)
            else:
                return

    def _document(self) -> None:
        table = ""
        while True:
            self._skip_blank(newlines=True)
            if self._pos >= len(self._text):
                return
            if self._peek(2) == "[[":
                self._advance(2)
                table = self._header(array=True)
            elif self._peek() == "[":
                self._advance()
                table = self._header(array=False)
            else:
                self._key_value(table)

    def _header(self, *, array: bool) -> str:
        line = self._line
        keys = self._keys()
        self._advance(2 if array else 1)  # ]] or ]
        path = ""
        for key in keys[:-1]:
            path = _join(path, key)
            if path in self._arrays:
                path = f"{path}[{self._arrays[path]}]"
        path = _join(path, keys[-1])
        if array:
            self._arrays[path] = self._arrays.get(path, 0) + 1
            path = f"{path}[{self._arrays[path]}]"
        self.lines.setdefault(path, line)
        return path

    def _keys(self) -> list[str]:
        """A dotted key, up to ``=`` or ``]``."""
        keys: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            char = self._peek()
            if char in "\"'":
                keys.append(self._string())
            else:
                match = _BARE_KEY.match(self._text, self._pos)
                if not match:
                    raise ValueError("no key")
                keys.append(match.group(0))
                self._advance(len(match.group(0)))
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return keys
            self._advance()

    def _key_value(self, table: str) -> None:
        line = self._line
        path = table
        for key in self._keys():
            path = _join(path, key)
        self._skip_blank(newlines=False)
        self._advance()  # =
        self.lines.setdefault(path, line)
        self._value(path)

    def _value(self, path: str) -> None:
        self._skip_blank(newlines=False)
        char = self._peek()
        if char in "\"'":
            self._string()
        elif char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        else:
            while self._pos < len(self._text) and self._text[self._pos] not in ",]}\n#":
                self._advance()

    def _array(self, path: str) -> None:
        self._advance()  # [
        index = 0
        while True:
            self._skip_blank(newlines=True)
            if self._peek() == "]":
                self._advance()
                return
            if self._peek() == ",":
                self._advance()
                continue
            index += 1
            item = f"{path}[{index}]"
            self.lines.setdefault(item, self._line)
            self._value(item)

    def _inline_table(self, path: str) -> None:
        self._advance()  # {
        while True:
            self._skip_blank(newlines=False)
            if self._peek() == "}":
                self._advance()
                return
            if self._peek() == ",":
                self._advance()
                continue
            self._key_value(path)

    def _string(self) -> str:
        quote = self._peek()
        if self._peek(3) == quote * 3:
            self._advance(3)
            end = self._text.find(quote * 3, self._pos)
            while quote == '"' and _escaped(self._text, end):
                end = self._text.find(quote * 3, end + 1)
            end += 3
            while self._text[end:end + 1] == quote:  # up to two quotes may end the content
                end += 1
            value = self._text[self._pos:end - 3]
            self._advance(end - self._pos)
            return value
        self._advance()
        start = self._pos
        while self._peek() != quote:
            self._advance(2 if quote == '"' and self._peek() == "\\" else 1)
        value = self._text[start:self._pos]
        self._advance()
        return value


def _escaped(text: str, index: int) -> bool:
    """Is the character at *index* escaped by an odd number of backslashes?"""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _parent(path: str) -> str:
    """``a[1].b[2]`` -> ``a[1].b`` -> ``a[1]`` -> ``a`` -> ``""``."""
    if path.endswith("]"):
        return path[:path.rindex("[")]
    return path.rpartition(".")[0]
