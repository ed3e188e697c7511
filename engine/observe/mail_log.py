"""The mail log: ``<data>/logs/mail_logs/mail.current``, rolled like AsyncOS's.

Lines are ``<asctime> <Level>: <text>`` (SPEC.md §2).  A file starts with
``Begin Logfile``, the version/serial line and the UTC offset, and ends with
``End Logfile`` when it is rolled to ``mail.@<timestamp>.s``.

Writes are buffered and flushed on the next loop turn (or at once with no loop running),
so a burst of mail costs one write per burst, not one per line.

No control character is ever written.  A line carries what clients sent (addresses, a
Subject, a remote server's reply): a line break in it would forge a log line, an escape
sequence would drive the terminal of whoever runs ``tail`` or ``cat``.  The SMTP server
refuses them in commands, but headers are data; so :func:`_line` passes every line
through :func:`engine.config.text.shown`, the last line of defence: a C0 control, DEL, a
C1 control (and the other characters the printable-text rule refuses) are written as
``\\x1b``, ``\\t``, ``\\n``, ``\\x85``, ..., text in any script as it is (UTF-8).

Tests: tests/engine/observe/test_mail_log.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from engine.config.text import shown
from engine.observe import log_lines as lines
from engine.observe.timestamps import asctime

CURRENT = "mail.current"


def _rolled(name: str) -> re.Pattern[str]:
    """``<name>.@<stamp>.s``, then ``<name>.@<stamp>.1.s``, ``.2.s`` ... for rolls in the same
    second (``name`` is ``mail`` for the mail log, ``status`` for the status log)."""
    return re.compile(rf"{re.escape(name)}\.@(\d{{8}}T\d{{6}})(?:\.(\d+))?\.s")


_ROLLED = _rolled("mail")


def rolled_files(directory: Path, name: str = "mail") -> list[Path]:
    """The files rolled in *directory*, oldest first: by modification time, then by name, so
    files rolled within one tick of a coarse file system clock keep their order."""
    pattern = _ROLLED if name == "mail" else _rolled(name)

    def roll_order(path: Path) -> tuple[int, str, int]:
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:  # pruned while we looked
            mtime = 0
        match = pattern.fullmatch(path.name)
        return (mtime, match[1], int(match[2] or 0)) if match else (mtime, path.name, 0)

    return sorted(directory.glob(f"{name}.@*.s"), key=roll_order)


class MailLog:
    """A log subscription's files: ``<name>.current`` and its rolled files.  The mail log is
    ``mail``; the status log (engine/observe/status_log.py) is another, ``status``."""

    def __init__(self, directory: Path, *, version: str, serial: str,
                 max_bytes: int = 10 * 1024 * 1024, keep: int = 20, name: str = "mail") -> None:
        self.directory = directory
        self.name = name
        self.version = version
        self.serial = serial
        self.max_bytes = max_bytes
        self.keep = keep
        directory.mkdir(parents=True, exist_ok=True)
        self._buffer: list[str] = []
        self._flush_scheduled = False
        self._file: BinaryIO | None = None
        self._size = 0
        self._open()

    @property
    def path(self) -> Path:
        return self.directory / f"{self.name}.current"

    # -- writing -----------------------------------------------------------------
    def info(self, text: str) -> None:
        # write("Info", text) spelt out: a message writes some twenty lines
        self._buffer.append(_line("Info", text))
        if not self._flush_scheduled:
            self._schedule_flush()

    def warning(self, text: str) -> None:
        self.write("Warning", text)

    def write(self, level: str, text: str) -> None:
        self._buffer.append(_line(level, text))
        if not self._flush_scheduled:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._buffer or self._file is None:
            return
        chunk = "".join(self._buffer).encode("utf-8", "backslashreplace")
        self._buffer.clear()
        self._file.write(chunk)
        self._file.flush()
        self._size += len(chunk)
        if self._size >= self.max_bytes:
            self.roll()

    # -- files ---------------------------------------------------------------------
    def _open(self) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the log's life
        self._size = self.path.stat().st_size
        if new:
            self.info(lines.logfile_begin())
            self.info(lines.logfile_version(self.version, self.serial))
            self.info(lines.logfile_time_offset())
            self.flush()

    def roll(self) -> Path:
        """Close ``<name>.current`` as ``<name>.@<timestamp>.s`` and start a new one."""
        self._buffer.append(_line("Info", lines.logfile_end()))
        self._buffer_to_file()
        assert self._file is not None
        self._file.close()
        rolled = self.directory / _next_name(self.directory, datetime.now(UTC), self.name)
        self.path.rename(rolled)
        self._prune()
        self._open()
        return rolled

    def _buffer_to_file(self) -> None:
        if self._buffer and self._file is not None:
            self._file.write("".join(self._buffer).encode("utf-8", "backslashreplace"))
            self._buffer.clear()

    def _prune(self) -> None:
        rolled = rolled_files(self.directory, self.name)
        for old in rolled[: max(0, len(rolled) - self.keep)]:
            with contextlib.suppress(OSError):
                old.unlink()

    def found(self, pattern: re.Pattern[bytes], since: float) -> set[bytes]:
        """The first group of every match of *pattern* in the lines written since *since*
        (a wall time).  For recovery, which looks for the lines of the last moments before
        a crash: only ``mail.current`` and the files rolled since *since* are read, a block
        of lines at a time (a pattern never spans lines).  It reads files only (it may run
        in a thread): the caller flushes first."""
        found: set[bytes] = set()
        for path in reversed(self.files()):
            rolled = _ROLLED.fullmatch(path.name)
            if rolled and _rolled_at(rolled[1]) < since - 1:
                break  # rolled before then: it and the older files hold older lines only
            try:
                with path.open("rb") as file:
                    for block in _line_blocks(file):
                        found.update(pattern.findall(block))
            except OSError:  # pruned while we looked
                continue
        return found

    def files(self) -> list[Path]:
        """Rolled files oldest first, then ``mail.current`` (what ``grep`` searches)."""
        return [*rolled_files(self.directory, self.name), self.path]

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


def _line_blocks(file: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """*file* in blocks of about *size* bytes, each ending at a line's end (the last one
    where the file ends)."""
    rest = b""
    while block := file.read(size):
        block = rest + block
        end = block.rfind(b"\n") + 1
        rest = block[end:]
        if end:
            yield block[:end]
    if rest:
        yield rest


def _next_name(directory: Path, now: datetime, name: str = "mail") -> str:
    """``<name>.@<stamp>.s``, or numbered after the files of the same second still there (not
    the first free number: one of them may have been pruned, and names must keep the order)."""
    stamp = now.strftime("%Y%m%dT%H%M%S")
    pattern = _rolled(name)
    same_second = (pattern.fullmatch(p.name) for p in directory.glob(f"{name}.@{stamp}*.s"))
    numbers = [int(match[2] or 0) for match in same_second if match and match[1] == stamp]
    return f"{name}.@{stamp}.{max(numbers) + 1}.s" if numbers else f"{name}.@{stamp}.s"


def _rolled_at(stamp: str) -> float:
    """The wall time of a rolled file's name stamp (UTC, as :func:`_next_name` writes it)."""
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp()


def _line(level: str, text: str) -> str:
    """One line of the file: stamp, level, and *text* with any control character escaped."""
    second = int(time.time())
    stamp = _stamped[1] if _stamped[0] == second else _stamp(second)
    if not text.isprintable():  # shown()'s own test, made here: nearly every line passes it
        text = shown(text)
    return f"{stamp} {level}: {text}\n"


_stamped: tuple[int, str] = (-1, "")


def _stamp(second: int) -> str:
    """The asctime of *second*, made once per second (a burst writes many lines in one)."""
    global _stamped
    if _stamped[0] != second:
        _stamped = (second, asctime(datetime.fromtimestamp(second, UTC)))
    return _stamped[1]
