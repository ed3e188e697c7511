"""Reading the mail log files back: ``grep``, ``tail`` and ``findevent`` search them.

The mail log (engine/observe/mail_log.py) is written by the engine's process; any console on the
same data directory reads the files themselves, so these helpers take a directory, not a
:class:`~engine.observe.mail_log.MailLog`.  Everything here is plain blocking file I/O, meant to be
called through ``asyncio.to_thread``: a log can hold tens of megabytes, and the event loop
that carries mail must never wait for a disk read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from engine.observe.mail_log import CURRENT, rolled_files

#: ``Wed Sep  6 13:13:16 2023`` at the start of every line (SPEC.md §2).
_STAMP = re.compile(r"^([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}) ")
_STAMP_FORMAT = "%a %b %d %H:%M:%S %Y"
#: How much one call reads at most, so a thread call (and the memory it holds) stays small.
CHUNK_BYTES = 4 * 1024 * 1024
_TAIL_BLOCK = 64 * 1024


def mail_log_directory(data_dir: Path) -> Path:
    """Where the mail log of the appliance with data directory *data_dir* lives."""
    return data_dir / "logs" / "mail_logs"


def log_files(directory: Path) -> list[Path]:
    """The rolled files oldest first, then ``mail.current`` (if it exists).

    The same order as :meth:`engine.observe.mail_log.MailLog.files`, for a process without the
    engine (an attached console).
    """
    rolled = rolled_files(directory)
    current = directory / CURRENT
    return [*rolled, current] if current.exists() else rolled


def split_line(line: str) -> tuple[str, str]:
    """``(time stamp, the rest)`` of a log line: ``("Wed Sep  6 13:13:16 2023", "Info: ...")``;
    a line without a stamp gives ``("", line)``."""
    match = _STAMP.match(line)
    if match is None:
        return "", line
    return match.group(1), line[match.end():]


def line_time(line: str) -> datetime | None:
    """The time stamp a log line starts with (UTC), or None for a line without one."""
    match = _STAMP.match(line)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1).replace("  ", " 0"), _STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r")


def read_lines(path: Path) -> Iterator[str]:
    """Every line of *path*, without its line end (a vanished file has none)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below, generator-safe
    except FileNotFoundError:
        return
    with handle:
        for raw in handle:
            yield _decode(raw.rstrip(b"\n"))


def grep_file(path: Path, matches: Callable[[str], object]) -> list[str]:
    """The lines of *path* that *matches* accepts (a true result, such as a regular
    expression's ``search`` finding something), in file order."""
    return [line for line in read_lines(path) if matches(line)]


def count_file(path: Path, matches: Callable[[str], object]) -> int:
    """How many lines of *path* *matches* accepts (nothing kept in memory)."""
    return sum(1 for line in read_lines(path) if matches(line))


@dataclass(frozen=True)
class FileSpan:
    """A log file and the times of its first and last lines, for ``findevent``'s date list."""

    path: Path
    first: datetime | None
    last: datetime | None


def file_span(path: Path) -> FileSpan:
    """The first and last time stamps of *path* (reading only its two ends)."""
    try:
        with open(path, "rb") as handle:
            first = _decode(handle.readline().rstrip(b"\n"))
            lines = _tail_lines(handle, 2)
    except FileNotFoundError:
        return FileSpan(path, None, None)
    return FileSpan(path, line_time(first), line_time(lines[-1]) if lines else line_time(first))


def _tail_lines(handle: BinaryIO, count: int) -> list[str]:
    """The last *count* complete lines of an open file (without reading all of it)."""
    end = os.fstat(handle.fileno()).st_size
    data = b""
    start = end
    while start > 0 and data.count(b"\n") <= count:
        start = max(0, start - _TAIL_BLOCK)
        handle.seek(start)
        data = handle.read(end - start)
    data = data[: data.rfind(b"\n") + 1]  # complete lines only
    lines = data.split(b"\n")[:-1]
    if start > 0:
        lines = lines[1:]  # the first one may have been cut
    return [_decode(raw) for raw in lines[-count:]] if count else []


class LogFollower:
    """Reads what is appended to ``mail.current``, across rolls (``tail``, ``grep -t``).

    The follower keeps its own handle on the file it reads.  When the log rolls, the old
    file is renamed (the handle still reads it, so the lines written just before the roll,
    ``End Logfile`` included, are not lost) and a new ``mail.current`` appears: the follower
    finishes the old file and continues at the start of the new one.  Only complete lines
    are returned; a line still being written waits for its end.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / CURRENT
        self._handle: BinaryIO | None = None
        self._partial = b""

    def open_at_end(self, last: int = 0) -> list[str]:
        """Start at the end of the file; return its last *last* lines."""
        self._open()
        if self._handle is None:
            return []
        lines = _tail_lines(self._handle, last) if last else []
        self._handle.seek(0, os.SEEK_END)
        return lines

    def open_at_start(self) -> None:
        """Start at the beginning: the first polls return what the file holds already."""
        self._open()

    def _open(self) -> None:
        self.close()
        try:
            self._handle = open(self.path, "rb")  # noqa: SIM115 - held until close()
        except FileNotFoundError:
            self._handle = None
        self._partial = b""

    def poll(self, limit: int = CHUNK_BYTES) -> list[str]:
        """The complete lines appended since the last poll (at most about *limit* bytes)."""
        if self._handle is None:
            self._open()
            if self._handle is None:
                return []
        lines = self._read(limit)
        if len(lines) == 0 and self._rolled():
            lines = self._read(limit)  # the old file's last lines, written before the rename
            if self._partial:
                lines.append(_decode(self._partial))
            self._open()
            lines += self._read(limit)
        return lines

    def _read(self, limit: int) -> list[str]:
        assert self._handle is not None
        data = self._partial + self._handle.read(limit)
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        return [_decode(raw) for raw in data[:cut].split(b"\n")[:-1]]

    def _rolled(self) -> bool:
        """Is ``mail.current`` another file than the one we read?  (Not while the new one
        is still missing: MailLog creates it right after the rename.)"""
        assert self._handle is not None
        try:
            now = self.path.stat()
        except FileNotFoundError:
            return False
        ours = os.fstat(self._handle.fileno())
        return (now.st_ino, now.st_dev) != (ours.st_ino, ours.st_dev)

    @property
    def caught_up(self) -> bool:
        """Nothing more to read right now (the last poll reached the end of the file)."""
        if self._handle is None:
            return True
        return self._handle.tell() >= os.fstat(self._handle.fileno()).st_size

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
