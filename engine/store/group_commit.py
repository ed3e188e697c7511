"""Group commit: one writer thread commits many callers' work per transaction.

A message is acknowledged only after the transaction holding it has committed
(DESIGN.md, "Durability and throughput").  With ``synchronous=FULL`` every commit
costs a disk flush, so the writer takes everything that is waiting, runs every
caller's piece, commits once, and then answers every caller on the event loop (one
wake-up of the loop per batch).  Under load a single flush covers hundreds of
messages; idle, a lone message is committed at once.

One failure does not sink the batch: when a piece raises, the transaction is rolled
back and the batch is run again with each piece in its own savepoint, so the others
commit and only the failed one reports its error.  Savepoints cost two statements per
piece, so they are only paid for on that slow path; a piece must therefore be
repeatable (its only effects are the statements it runs on the connection).

One kind of work cannot wait its turn: a delivery the next hop has taken (``250``) is
delivered again after a crash until its "delivered" state is durable.  Such work goes in
with :meth:`GroupCommitWriter.submit_first`: it joins the transaction the writer is running
when it has not committed yet (it is run last, just before the commit), else it is run
first in the next one -- never behind the rest of the queue.

Tests: tests/engine/store/test_group_commit.py, test_queue_store.py,
tests/engine/mail/test_queue_core.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A piece of work for the writer: run in its transaction, returning a *T*.
Job = Callable[[Connection], T]
Work = Job[Any]


@dataclass
class _Job:
    work: Work
    future: asyncio.Future | None
    loop: asyncio.AbstractEventLoop | None


#: Put on the main queue for each :meth:`GroupCommitWriter.submit_first`: it wakes the
#: writer, which then takes the job from its own queue (or finds it already done).
_WAKE = _Job(lambda _connection: None, None, None)


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self._engine = engine
        self._max_batch = max_batch
        #: jobs one by one, or a loop turn's together; None: stop
        self._jobs: queue.SimpleQueue[_Job | list[_Job] | None] = queue.SimpleQueue()
        self._turn: list[_Job] = []  # this loop turn's jobs, handed over at its end
        self._first: queue.SimpleQueue[_Job] = queue.SimpleQueue()  # submit_first's jobs
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.batches = 0  # commits so far (tests count them)
        self.jobs = 0
        self._thread.start()

    def submit(self, work: Job[T]) -> asyncio.Future[T]:
        """Run *work* in the next transaction; the future resolves once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._hand(_Job(work, future, loop), loop)
        return future

    def submit_nowait(self, work: Work) -> None:
        """Fire and forget (tracking events, state notes): durable soon, nobody waits."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the loop's thread: straight to the writer
            self._jobs.put(_Job(work, None, None))
            return
        self._hand(_Job(work, None, None), loop)

    def _hand(self, job: _Job, loop: asyncio.AbstractEventLoop) -> None:
        """Jobs of one loop turn go to the writer together at the turn's end: one wake-up
        of its thread (and one hand-over of the GIL) per turn, not per job.  Nothing waits
        longer for its commit than that turn; the order of submission is kept."""
        if not self._turn:
            loop.call_soon(self.hand_over)
        self._turn.append(job)

    def hand_over(self) -> None:
        """Hand this loop turn's jobs to the writer now, not at the turn's end (closing does;
        a test that holds the writer inside a job of its own does too)."""
        jobs, self._turn = self._turn, []
        if jobs:
            self._jobs.put(jobs)

    def submit_first(self, work: Work) -> None:
        """Fire and forget, ahead of everything waiting: in the transaction being run now if
        it has not committed yet, else first in the next one.  For work whose delay costs
        more than its place in the queue is worth (a delivery's "delivered" state); it
        must not depend on work submitted before it that is not durable yet."""
        self._first.put(_Job(work, None, None))
        self._jobs.put(_WAKE)

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        self.hand_over()
        self._jobs.put(None)
        self._thread.join()

    # -- the writer thread ---------------------------------------------------------
    def _run(self) -> None:
        with self._engine.connect().execution_options(immediate=True) as connection:
            while True:
                batch, stop = self._take()
                if batch:
                    self._commit(connection, batch)
                if stop:
                    return

    def _take(self) -> tuple[list[_Job], bool]:
        """The next batch (the jobs submitted first ahead of the others), and whether the
        writer stops after it."""
        first = self._jobs.get()
        batch = self._firsts()
        if first is None:
            return batch, True
        _add(batch, first)
        while len(batch) < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            _add(batch, job)
        return batch, False

    def _firsts(self) -> list[_Job]:
        """Every job :meth:`submit_first` has queued so far."""
        jobs = []
        while True:
            try:
                jobs.append(self._first.get_nowait())
            except queue.Empty:
                return jobs

    def _commit(self, connection: Connection, batch: list[_Job]) -> None:
        try:
            results = self._all_at_once(connection, batch)
        except _PieceFailed:  # run it again, each piece in a savepoint of its own
            results = self._one_by_one(connection, batch)
        except Exception as exc:  # the commit itself failed: nothing in the batch is durable
            log.exception("group commit of %d jobs failed", len(batch))
            results = [(job, False, exc) for job in batch]
        self.batches += 1
        self.jobs += len(batch)
        answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, bool, Any]]] = {}
        for job, ok, value in results:
            if job.future is not None and job.loop is not None:
                answers.setdefault(job.loop, []).append((job.future, ok, value))
            elif not ok:
                log.error("background store write failed: %s", value)
        for loop, resolved in answers.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve_all, resolved)

    def _all_at_once(self, connection: Connection, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        """The fast path: every piece in one transaction, no savepoints.  Jobs submitted
        first while the batch ran join it (*batch* grows): they make this commit."""
        with connection.begin():
            results = self._run_all(connection, batch)
            late = self._firsts()
            batch.extend(late)  # the slow path, if one of them fails, runs them too
            results += self._run_all(connection, late)
        return results

    @staticmethod
    def _run_all(connection: Connection, jobs: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        results = []
        for job in jobs:
            try:
                results.append((job, True, job.work(connection)))
            except Exception as exc:
                raise _PieceFailed from exc  # leaves the block: the transaction rolls back
        return results

    def _one_by_one(self, connection: Connection, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        try:
            with connection.begin():
                return [self._one(connection, job) for job in batch]
        except Exception as exc:  # the commit itself failed: nothing in the batch is durable
            log.exception("group commit of %d jobs failed", len(batch))
            return [(job, False, exc) for job in batch]

    @staticmethod
    def _one(connection: Connection, job: _Job) -> tuple[_Job, bool, Any]:
        savepoint = connection.begin_nested()
        try:
            value = job.work(connection)
        except Exception as exc:
            savepoint.rollback()
            return job, False, exc
        savepoint.commit()
        return job, True, value


def _add(batch: list[_Job], taken: _Job | list[_Job]) -> None:
    """Add what was taken off the queue: a job, or a loop turn's jobs (a batch may grow
    past ``max_batch`` by the rest of one turn)."""
    if isinstance(taken, list):
        batch.extend(taken)
    elif taken is not _WAKE:
        batch.append(taken)


class _PieceFailed(Exception):
    """A piece of a batch raised: the batch goes the slow way."""


def _resolve_all(resolved: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, value in resolved:
        _resolve(future, ok, value)


def _resolve(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
