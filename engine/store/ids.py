"""MID, ICID and DCID: numbers that only ever grow, across restarts and crashes.

The store keeps a high-water mark per kind; the allocator reserves a block at a time
and hands numbers out in memory.  A crash skips the unused rest of a block, as IDs on
the appliance also jump after a restart; no number is ever reused.  With a writer, the
next block is reserved in the background while a fifth of the current one is left, so
handing out an ID never waits for the disk on the event loop.

Tests: tests/engine/mail/test_queue_core.py.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.sqlite import insert

from engine.store.group_commit import GroupCommitWriter
from engine.store.models import ApplianceSetting

KINDS = ("mid", "icid", "dcid")
SETTINGS = ApplianceSetting.__table__


class IdAllocator:
    def __init__(self, engine: Engine, *, block: int = 10_000,
                 writer: GroupCommitWriter | None = None) -> None:
        self._engine = engine
        self._block = block
        self._writer = writer
        self._next: dict[str, int] = {}
        self._limit: dict[str, int] = {}
        self._ahead: dict[str, tuple[int, int] | None] = dict.fromkeys(KINDS)
        self._reserving: set[str] = set()
        for kind in KINDS:
            start = self._reserve_now(kind)
            self._next[kind], self._limit[kind] = start, start + block

    def next(self, kind: str) -> int:
        if self._next[kind] >= self._limit[kind]:
            self._switch(kind)
        value = self._next[kind]
        self._next[kind] = value + 1
        if self._limit[kind] - self._next[kind] < self._block // 5:
            self._reserve_ahead(kind)
        return value

    def current(self, kind: str) -> int:
        """The last number handed out (``status``: Current IDs), 0 before the first."""
        return self._next[kind] - 1

    def _switch(self, kind: str) -> None:
        """The block is used up: take the one reserved ahead, else reserve one now."""
        ahead = self._ahead[kind]
        if ahead is None:  # a burst outran the background reservation
            start = self._reserve_now(kind)
            ahead = (start, start + self._block)
        self._next[kind], self._limit[kind] = ahead
        self._ahead[kind] = None

    def _reserve_ahead(self, kind: str) -> None:
        if self._writer is None or kind in self._reserving or self._ahead[kind] is not None:
            return
        self._reserving.add(kind)
        future = self._writer.submit(lambda connection: _move_mark(connection, kind, self._block))
        future.add_done_callback(lambda done: self._reserved(kind, done))

    def _reserved(self, kind: str, done: asyncio.Future[int]) -> None:
        self._reserving.discard(kind)
        if not done.cancelled() and done.exception() is None:
            start = done.result()
            # Committed, but the block ran out before this answer came and the loop reserved
            # the next one itself (a slow disk): this block is below it, and numbers must grow.
            if start >= self._limit[kind]:
                self._ahead[kind] = (start, start + self._block)

    def _reserve_now(self, kind: str) -> int:
        with self._engine.connect().execution_options(immediate=True) as connection, \
                connection.begin():
            return _move_mark(connection, kind, self._block)


def _move_mark(connection: Connection, kind: str, block: int) -> int:
    """Move the stored high-water mark one block on; return the block's first number."""
    key = f"next_{kind}"
    current = connection.execute(select(SETTINGS.c.value).where(SETTINGS.c.key == key)).scalar()
    start = int(current) if current is not None else 1
    if current is None:
        connection.execute(insert(SETTINGS).values(key=key, value=str(start + block)))
    else:
        connection.execute(update(SETTINGS).where(SETTINGS.c.key == key)
                           .values(value=str(start + block)))
    return start
