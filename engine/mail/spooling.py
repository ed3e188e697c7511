"""The mail engine's use of the spool: which bodies go to files, which rows name them,
and when the files go (engine/store/spool.py says why big bodies live in files).

* An accepted body from :data:`SPOOL_FROM` bytes on is written to its file (fsynced, in
  the spool's threads) before its row goes to the writer: the ``250`` waits for both.
* A split part with the accepted body names the same file; a part whose body changed (a
  tagged subject) gets a file of its own, written before the work queue's outcome is.
* A journal copy of a spooled body names its original's file: its row holds only its own
  head and tail (the copy is never written a second time).
* A file goes once every message naming it is done (:meth:`BodySpool.sweep`, every
  :attr:`BodySpool.interval` seconds while any is named); at a start, before the listener
  opens, files no row names are removed (their row never committed: nothing was
  acknowledged) and queued messages whose file is missing are reported and taken off the
  queue (:meth:`BodySpool.recover`), never stopping the engine.

Tests: tests/engine/mail/test_big_spool.py, tests/engine/store/test_spool.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from engine.durable import OPERATOR
from engine.observe import log_lines as lines
from engine.store import queue_store
from engine.store.group_commit import GroupCommitWriter
from engine.store.queue_store import NewMessage
from engine.store.spool import SPOOL_DIRECTORY, SPOOL_FROM, Spool, SpoolMissing

log = logging.getLogger(__name__)

#: How often the files of finished messages are looked for, while any file is named.
SWEEP_INTERVAL = 1.0


@dataclasses.dataclass
class Recovered:
    """What :meth:`BodySpool.recover` found: the rows that go on (bodies read), and the
    messages whose spool file is missing with their deliveries' row ids."""

    unprocessed: list[dict]
    active: list[dict]
    lost: dict[int, SpoolMissing]
    lost_rows: list[int]


class BodySpool:
    """The spool of one mail engine: its files, the rows naming them, their removal."""

    def __init__(self, data_dir: Path, engine: Engine, writer: GroupCommitWriter,
                 warn: Callable[[str], None]) -> None:
        self.spool = Spool(data_dir / SPOOL_DIRECTORY)
        self._engine = engine
        self._writer = writer
        self._warn = warn  # a mail log Warning line
        self.interval = SWEEP_INTERVAL
        self._named = False  # a stored row may name a file: the sweep has work
        self._task: asyncio.Task[None] | None = None

    # -- storing ------------------------------------------------------------------------
    async def accepted(self, message: NewMessage) -> NewMessage:
        """The row to store for an accepted *message*: itself when it is small; else its
        body is written to its file first (durably) and the row names the file."""
        if len(message.body) < SPOOL_FROM:
            return message
        name = Spool.name_for(message.mid)
        await self.spool.write(name, message.body)
        return dataclasses.replace(message, body=b"", spool=name, spool_at=0,
                                   spool_size=len(message.body))

    async def discard(self, row: NewMessage) -> None:
        """The row naming a file written for it was not stored (the store failed): the
        file goes (nothing names it, nothing was acknowledged)."""
        if row.spool is not None:
            await self.spool.remove([row.spool])

    async def part(self, message: NewMessage, original: bytes, original_file: str | None
                   ) -> NewMessage:
        """The row of a split part: naming the accepted message's file when the part's body
        is that body, else its own file when it is big."""
        if original_file is not None and message.body is original:
            return dataclasses.replace(message, body=b"", spool=original_file, spool_at=0,
                                       spool_size=len(original))
        return await self.accepted(message)

    @staticmethod
    def journal(message: NewMessage, pieces: tuple[bytes, bytes, bytes],
                original_file: str | None) -> NewMessage:
        """The row of a journal copy (*message*, whose body is *pieces*: its head, the
        original, its tail): naming the original's file when it has one, with only its head
        and tail; else the whole copy."""
        head, original, tail = pieces
        if original_file is None:
            return dataclasses.replace(message, body=b"".join(pieces))
        return dataclasses.replace(message, body=head + tail, spool=original_file,
                                   spool_at=len(head), spool_size=len(original))

    # -- recovering -----------------------------------------------------------------------
    def recover(self, unprocessed: list[dict], active: list[dict]) -> Recovered:
        """At a start, in a thread, before anything is queued: files no row names go;
        spooled bodies are read into their rows (once per file); messages whose file is
        missing are reported, and left out of what goes on."""
        named = queue_store.spooled_names(self._engine)
        orphans = self.spool.names() - named
        if orphans:
            log.warning("removing %d spool files of messages never stored: %s", len(orphans),
                        ", ".join(sorted(orphans)))
            self.spool.remove_now(orphans)
        self._named = bool(named)
        return self._with_bodies(unprocessed, active)

    def recover_page(self, active: list[dict]) -> Recovered:
        """A page of stored deliveries read back in the background after :meth:`recover`
        (:meth:`engine.mail.mail_engine.MailEngine.start`), in a thread: the same for its
        rows (a file is read once per page, however many of its rows name it)."""
        return self._with_bodies([], active)

    def _with_bodies(self, unprocessed: list[dict], active: list[dict]) -> Recovered:
        missing = (queue_store.with_bodies(unprocessed, self.spool.read_now)
                   + queue_store.with_bodies(active, self.spool.read_now))
        lost = {row["mid"]: error for row, error in missing}
        return Recovered([row for row in unprocessed if row["mid"] not in lost],
                         [row for row in active if row["mid"] not in lost],
                         lost, [row["id"] for row in active if row["mid"] in lost])

    async def report(self, recovered: Recovered) -> None:
        """On the loop: each message whose file is missing is said (mail log Warning, the
        operator's notices, the engine's log) and leaves the queue in the store, its
        deliveries ``deleted`` with the reason."""
        if not recovered.lost:
            return
        for mid, error in sorted(recovered.lost.items()):
            text = lines.spool_missing(mid, str(error.path))
            log.error("%s", text)
            OPERATOR.error("%s", text)
            self._warn(text)
        await self._writer.submit(queue_store.abandon(
            sorted(recovered.lost), recovered.lost_rows, "body file missing"))

    # -- removing ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._sweeping())

    def stored(self) -> None:
        """A row naming a file is durable now: the sweep has work (said once the row is
        durable, so that a sweep that read the store before it cannot clear it)."""
        self._named = True

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self._named:
                continue
            try:
                await self.sweep()
            except Exception:
                log.exception("the spool's files of finished messages could not be removed")

    async def sweep(self) -> list[str]:
        """Remove the files whose every message is done (their state is durable: the store
        is asked), then let their rows forget them.  Returns the names removed."""
        self._named = False  # a file written from now on sets it again
        loop = asyncio.get_running_loop()
        done, queued = await loop.run_in_executor(None, queue_store.spool_done, self._engine)
        if queued:
            self._named = True
        if done:
            await self.spool.remove(done)
            await self._writer.submit(queue_store.forget_spool(done))
        return done

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.spool.close()
