"""MID, ICID and DCID: numbers that only ever grow, across restarts and crashes.

The store keeps a high-water mark per kind; the allocator reserves a block at a
time (one small write per few thousand IDs) and hands numbers out in memory.  A
crash skips the unused rest of a block, as IDs on the appliance also jump after a
restart; no number is ever reused.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from engine.models import ApplianceSetting

KINDS = ("mid", "icid", "dcid")


class IdAllocator:
    def __init__(self, engine: Engine, *, block: int = 10_000) -> None:
        self._engine = engine
        self._block = block
        self._next: dict[str, int] = {}
        self._limit: dict[str, int] = {}
        for kind in KINDS:
            self._reserve(kind)

    def next(self, kind: str) -> int:
        if self._next[kind] >= self._limit[kind]:
            self._reserve(kind)
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def current(self, kind: str) -> int:
        """The last number handed out (``status``: Current IDs), 0 before the first."""
        return self._next[kind] - 1

    def _reserve(self, kind: str) -> None:
        """Move the stored high-water mark one block on (a short write transaction)."""
        key = f"next_{kind}"
        with Session(self._engine.connect().execution_options(immediate=True)) as session:
            row = session.get(ApplianceSetting, key)
            start = int(row.value) if row is not None else 1
            if row is None:
                row = ApplianceSetting(key=key, value="")
                session.add(row)
            row.value = str(start + self._block)
            session.commit()
            session.connection().commit()
        self._next[kind] = start
        self._limit[kind] = start + self._block

