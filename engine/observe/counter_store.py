"""Counters that outlive the process: lifetime values and values since ``resetcounters``.

``status`` shows Reset and Lifetime columns that survive restarts (on the appliance,
"Last counter reset: Never" shows Reset equal to Lifetime after reboots).  The live
counters are plain integers on the event loop; this module saves what they add up to
(:meth:`engine.observe.counters.Counters.columns`) through the group-commit writer, every
``interval`` seconds and at stop, and restores it at start.  Only changed rows are
written; the event loop only builds the rows, the writer thread writes them.

A crash (``kill -9``) loses at most the counts of the last interval; the queue itself
is never affected (its durability is the message store's, not this module's).

Tests: tests/engine/observe/test_counter_store.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select

from engine.observe.counters import SYSTEM, Counters
from engine.store.group_commit import GroupCommitWriter, Job
from engine.store.models import ApplianceSetting, LifetimeCounterRow

log = logging.getLogger(__name__)

COUNTERS = LifetimeCounterRow.__table__
SETTINGS = ApplianceSetting.__table__
RESET_AT = "counters_reset_at"
SAVE_INTERVAL = 10.0

#: ``{(scope, name): (lifetime, since_reset)}``
Saved = dict[tuple[str, str], tuple[int, int]]


class CounterStore:
    def __init__(self, counters: Counters, engine: Engine, writer: GroupCommitWriter, *,
                 interval: float = SAVE_INTERVAL) -> None:
        self._counters = counters
        self._engine = engine
        self._writer = writer
        self._interval = interval
        self._saved: Saved = {}
        self._saved_reset_at: float | None = None
        self._task: asyncio.Task | None = None
        self._loaded = False  # never save over stored values this process has not read

    async def load(self) -> None:
        """Restore what earlier processes counted (read in a worker thread)."""
        saved, reset_at = await asyncio.get_running_loop().run_in_executor(None, _read, self._engine)
        by_scope: dict[str, dict[str, tuple[int, int]]] = {}
        for (scope, name), values in saved.items():
            by_scope.setdefault(scope, {})[name] = values
        self._counters.restore(by_scope, reset_at)
        self._saved, self._saved_reset_at = saved, reset_at
        self._loaded = True

    def start(self) -> None:
        """Save every ``interval`` seconds from now on."""
        self._task = asyncio.ensure_future(self._every_interval())

    async def stop(self) -> None:
        """Stop saving periodically and queue a last save (the writer commits it on close)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.save()

    async def reset(self) -> float:
        """``resetcounters``: the Reset column to zero, durably; returns the reset time."""
        self._counters.reset()
        job = self._job()
        if job is not None:
            await self._writer.submit(job)
        assert self._counters.reset_at is not None
        return self._counters.reset_at

    def save(self) -> None:
        """Queue the changed counters for the writer (durable with its next commit)."""
        job = self._job()
        if job is not None:
            self._writer.submit_nowait(job)

    def _job(self) -> Job[None] | None:
        """The writer job for what changed since the last save (None: nothing did), taken
        as saved from now on; nothing before :meth:`load`, so stored values never shrink."""
        if not self._loaded:
            return None
        rows = self._changed_rows()
        reset_at = self._counters.reset_at
        new_reset = reset_at if reset_at != self._saved_reset_at else None
        if not rows and new_reset is None:
            return None
        for scope, name, lifetime, since_reset in rows:
            self._saved[(scope, name)] = (lifetime, since_reset)
        self._saved_reset_at = reset_at
        return _write(rows, new_reset)

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.save()
            except Exception:  # never let a bug here stop the periodic saves for good
                log.exception("could not save the lifetime counters")

    def _changed_rows(self) -> list[tuple[str, str, int, int]]:
        counters = self._counters
        # Only live counters change between saves -- except after a reset, which zeroes
        # the carried Reset values of every scope.
        scopes = counters.scopes() if counters.reset_at != self._saved_reset_at \
            else {SYSTEM, *counters.hosts}
        rows = []
        for scope in scopes:
            for name, column in counters.columns(scope).items():
                values = (column.lifetime, column.reset)
                if self._saved.get((scope, name), (0, 0)) != values:
                    rows.append((scope, name, *values))
        return rows


def _read(engine: Engine) -> tuple[Saved, float | None]:
    with engine.connect() as connection:
        rows = connection.execute(select(COUNTERS)).all()
        reset_at = connection.execute(
            select(SETTINGS.c.value).where(SETTINGS.c.key == RESET_AT)).scalar()
    saved = {(row.scope, row.name): (row.lifetime, row.since_reset) for row in rows}
    return saved, float(reset_at) if reset_at else None


def _write(rows: list[tuple[str, str, int, int]], reset_at: float | None) -> Job[None]:
    """A writer job: replace the given rows (and the reset time when it changed)."""
    def job(connection: Connection) -> None:
        if rows:
            connection.execute(
                delete(COUNTERS).where(COUNTERS.c.scope == bindparam("b_scope"),
                                       COUNTERS.c.name == bindparam("b_name")),
                [{"b_scope": scope, "b_name": name} for scope, name, _, _ in rows])
            connection.execute(insert(COUNTERS), [
                {"scope": scope, "name": name, "lifetime": lifetime, "since_reset": since_reset}
                for scope, name, lifetime, since_reset in rows])
        if reset_at is not None:
            connection.execute(delete(SETTINGS).where(SETTINGS.c.key == RESET_AT))
            connection.execute(insert(SETTINGS), [{"key": RESET_AT, "value": repr(reset_at)}])
    return job
