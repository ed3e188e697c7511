"""The frames of the local console channel (``<data>/cli.sock``).

The channel is a byte stream like an SSH session channel: the console's keys go one way,
the CLI's output the other, and a few requests travel beside them as on SSH (the window
size, the end of input, the exit status).  Each frame is one kind byte, a four-byte
big-endian length and the payload.

From the console:

- ``H`` hello, first and once: ``>BHH`` (has a pty, rows, columns) then the terminal type;
- ``D`` data: keys or piped lines, as typed;
- ``W`` window change: ``>HH`` (rows, columns);
- ``E`` end of input (Ctrl-D of a pipe: the input is over).

From the appliance:

- ``D`` data: the CLI's output;
- ``X`` exit status: ``>L``; the connection closes after it;
- ``R`` refused: why, in UTF-8 text; the connection closes after it.

Nothing here does input or output: :class:`FrameReader` takes bytes in any pieces and
gives whole frames, :func:`frame` makes one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: The socket in the data directory.
SOCKET_NAME = "cli.sock"
#: Who an attached console is: AsyncOS has no console users besides its accounts, and
#: the appliance's own console runs as the factory administrator; so does this one.
CONSOLE_USER = "admin"
HELLO, DATA, WINDOW, EOF, EXIT, REFUSED = b"H", b"D", b"W", b"E", b"X", b"R"
CLIENT_KINDS = frozenset({HELLO, DATA, WINDOW, EOF})
SERVER_KINDS = frozenset({DATA, EXIT, REFUSED})
_HEADER = struct.Struct(">cI")
_HELLO = struct.Struct(">BHH")
_WINDOW = struct.Struct(">HH")
_STATUS = struct.Struct(">L")
#: The longest frame a console may send (a paste arrives in many frames).
MAX_CLIENT_FRAME = 64 * 1024
#: The longest frame the appliance sends (one write of a command's output).
MAX_SERVER_FRAME = 16 * 1024 * 1024
#: The longest terminal type taken in a hello.
MAX_TERM = 64


class FrameError(ValueError):
    """Bytes that are not frames of this channel; the connection cannot go on."""


@dataclass(frozen=True)
class Hello:
    """What the console asks for: a pty (its type and size) or none (a pipe)."""

    pty: bool
    rows: int
    columns: int
    term: str


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


def hello(info: Hello) -> bytes:
    term = info.term.encode("ascii", "replace")[:MAX_TERM]
    return frame(HELLO, _HELLO.pack(int(info.pty), _clamp(info.rows), _clamp(info.columns)) + term)


def window(rows: int, columns: int) -> bytes:
    return frame(WINDOW, _WINDOW.pack(_clamp(rows), _clamp(columns)))


def exit_status(status: int) -> bytes:
    return frame(EXIT, _STATUS.pack(status & 0xFFFFFFFF))


def parse_hello(payload: bytes) -> Hello:
    if len(payload) < _HELLO.size or len(payload) > _HELLO.size + MAX_TERM:
        raise FrameError("a hello frame of the wrong size")
    pty, rows, columns = _HELLO.unpack_from(payload)
    term = payload[_HELLO.size:].decode("ascii", "replace")
    if not term.isprintable():
        raise FrameError("a terminal type with control characters")
    return Hello(bool(pty), rows, columns, term)


def parse_window(payload: bytes) -> tuple[int, int]:
    if len(payload) != _WINDOW.size:
        raise FrameError("a window frame of the wrong size")
    rows, columns = _WINDOW.unpack(payload)
    return rows, columns


def parse_status(payload: bytes) -> int:
    if len(payload) != _STATUS.size:
        raise FrameError("an exit status frame of the wrong size")
    return int(_STATUS.unpack(payload)[0])


def _clamp(value: int) -> int:
    return max(0, min(int(value), 0xFFFF))


class FrameReader:
    """Whole frames out of bytes that arrive in any pieces.

    *kinds* are the frame kinds this side accepts; anything else, or a frame longer than
    *limit*, is a :class:`FrameError` (the peer does not speak this channel)."""

    def __init__(self, kinds: frozenset[bytes], limit: int) -> None:
        self._kinds = kinds
        self._limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buffer += data
        frames: list[tuple[bytes, bytes]] = []
        while len(self._buffer) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self._buffer)
            if kind not in self._kinds:
                raise FrameError(f"an unknown frame kind {kind!r}")
            if length > self._limit:
                raise FrameError(f"a frame of {length} bytes (at most {self._limit})")
            end = _HEADER.size + length
            if len(self._buffer) < end:
                break
            frames.append((kind, bytes(self._buffer[_HEADER.size:end])))
            del self._buffer[:end]
        return frames
