"""Big message bodies in files of their own: the spool (``<data>/spool/``).

Every message is stored by the one group-commit writer (engine/store/group_commit.py).
A 50 MB body written into SQLite by that writer (and 50 MB more for its journal copy)
held up every small message committed after it (issue 14: small mail's p99 accept latency
17.5 s while 20 big messages came in).  So a body from :data:`SPOOL_FROM` bytes on is
written to a file of its own first, by a thread of this spool (never the event loop, never
the writer), fsynced with its directory, and only then is the row naming it handed to the
writer: the ``250`` after DATA still waits for both the file and the row to be durable
(DESIGN.md, "Durability and throughput").

A row names its file in ``messages.spool`` and says where the file's bytes go in the
body: ``messages.body`` holds the rest (nothing for an accepted message; a journal copy's
own head and tail around the original it carries, whose file it shares), and the file's
bytes are inserted at ``messages.spool_at``.  A file lives while any message naming it is
queued; the mail engine removes the others (:func:`engine.store.queue_store.spool_done`)
and, at a start, the files no row names: the process died between writing the file and
committing its row, and nothing was acknowledged.

Tests: tests/engine/store/test_spool.py, tests/engine/mail/test_big_spool.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.durable import fsync_directory

#: Bodies from this size on are spooled (a smaller one costs the writer less than a file).
SPOOL_FROM = 1024 * 1024
SPOOL_DIRECTORY = "spool"
#: The spool's threads: enough that a big body's fsync does not wait for another's.
_THREADS = 2
#: Written in pieces of this size (a write of a whole 50 MB body is one system call the
#: kernel may cut short anyway).
_PIECE = 1024 * 1024


class SpoolMissing(Exception):
    """A queued message's spooled body is not there (removed by hand, or a damaged disk)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"its body file {path} is missing")
        self.path = path


class Spool:
    """The spool directory and the threads that write, read and remove its files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(_THREADS, thread_name_prefix="spool")

    @staticmethod
    def name_for(mid: int) -> str:
        """The file name of the body first stored by message *mid* (MIDs are never reused)."""
        return f"{mid}.eml"

    def path(self, name: str) -> Path:
        return self.directory / name

    # -- on the event loop: the work goes to the spool's threads ------------------------
    async def write(self, name: str, body: bytes) -> None:
        """Write *body* to the file *name*, durably (file and directory fsynced), in a
        thread; a file left behind by a failure is removed."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.write_now,
                                                         name, body)

    async def remove(self, names: Iterable[str]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.remove_now,
                                                         list(names))

    def close(self) -> None:
        """Wait for the writes under way, then stop the threads."""
        self._executor.shutdown(wait=True)

    # -- in a thread ---------------------------------------------------------------------
    def write_now(self, name: str, body: bytes) -> None:
        path = self.path(name)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with memoryview(body) as view:
                    at = 0
                    while at < len(view):
                        at += os.write(descriptor, view[at: at + _PIECE])
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            fsync_directory(self.directory)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def read_now(self, name: str) -> bytes:
        """The file's bytes; SpoolMissing when it is not there."""
        path = self.path(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise SpoolMissing(path) from None

    def remove_now(self, names: Iterable[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                self.path(name).unlink()

    def names(self) -> set[str]:
        """Every file in the spool now."""
        return {entry.name for entry in os.scandir(self.directory) if entry.is_file()}


def spooled_body(stored: bytes, at: int, spooled: bytes) -> bytes | tuple[bytes, bytes, bytes]:
    """A spooled message's body: the file's bytes when the row holds nothing else, else the
    row's bytes before *at*, the file's, the row's after (a journal copy's head, original
    and tail: sent in these pieces, so the original read once serves every row naming it)."""
    if not stored:
        return spooled
    return stored[:at], spooled, stored[at:]
