"""Group commit: one writer thread commits many callers' work per transaction.

A message is acknowledged only after the transaction holding it has committed
(DESIGN.md, "Durability and throughput").  With ``synchronous=FULL`` every commit
costs a disk flush, so the writer takes everything that is waiting, runs each
caller's piece in its own savepoint (one failure does not sink the batch), commits
once, and then answers every caller on the event loop.  Under load a single flush
covers hundreds of messages; idle, a lone message is committed at once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[Connection], Any]


@dataclass
class _Job:
    work: Work
    future: asyncio.Future | None
    loop: asyncio.AbstractEventLoop | None


_STOP = object()


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.batches = 0  # commits so far (the benchmark reports jobs per commit)
        self.jobs = 0
        self._thread.start()

    def submit(self, work: Callable[[Connection], T]) -> asyncio.Future[T]:
        """Run *work* in the next transaction; the future resolves once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, future, loop))
        return future

    def submit_nowait(self, work: Work) -> None:
        """Fire and forget (tracking events, state notes): durable soon, nobody waits."""
        self._jobs.put(_Job(work, None, None))

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._jobs.put(_STOP)
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
        first = self._jobs.get()
        if first is _STOP:
            return [], True
        batch: list[_Job] = [first]  # type: ignore[list-item]
        while len(batch) < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return batch, True
            batch.append(job)  # type: ignore[arg-type]
        return batch, False

    def _commit(self, connection: Connection, batch: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        try:
            with connection.begin():
                for job in batch:
                    results.append(self._one(connection, job))
        except Exception as exc:  # the commit itself failed: nothing in the batch is durable
            log.exception("group commit of %d jobs failed", len(batch))
            results = [(job, False, exc) for job in batch]
        self.batches += 1
        self.jobs += len(batch)
        for job, ok, value in results:
            if job.future is not None and job.loop is not None:
                job.loop.call_soon_threadsafe(_resolve, job.future, ok, value)
            elif not ok:
                log.error("background store write failed: %s", value)

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


def _resolve(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
