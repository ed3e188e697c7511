"""What the queues record of each step: mail log lines, tracking events and outcomes.

The listener, the work queue, the delivery queues, the TDC queue and bounces all write
the same three records (DESIGN.md, "Observability is the product"): a mail log line, a
message tracking event, and the state of a stored delivery (done, or waiting for its
retry).  They get this one object instead of the whole mail engine, so none of them can
reach anything else of it.

Tracking events and finished deliveries go to the store with the next group commit (one
job per loop turn); nobody waits for them, except :meth:`MailRecords.settled`.

Tests: tests/engine/mail/test_tdc_timing.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.observe.mail_log import MailLog
from engine.store import queue_store
from engine.store.group_commit import GroupCommitWriter


class MailRecords:
    def __init__(self, mail_log: MailLog, writer: GroupCommitWriter, *,
                 now: Callable[[], float] = time.time) -> None:
        self.mail_log = mail_log
        self._writer = writer
        self._now = now  # the wall clock tracking events are stamped with
        self._tracking: list[tuple[int, float, str]] = []
        self._finished: list[tuple[list[int], str, str]] = []

    # -- the mail log and message tracking -------------------------------------------------
    def log(self, text: str) -> None:
        """One mail log line (``Info:``); *text* comes from :mod:`engine.observe.log_lines`."""
        self.mail_log.info(text)

    def track(self, mid: int, text: str) -> None:
        """A message tracking event; written with the next batch, nobody waits for it."""
        if not self._tracking:
            asyncio.get_running_loop().call_soon(self.flush_tracking)
        self._tracking.append((mid, self._now(), text))

    def log_and_track(self, mid: int, text: str) -> None:
        self.log(text)
        self.track(mid, text)

    def flush_tracking(self) -> None:
        events, self._tracking = self._tracking, []
        if events:
            self._writer.submit_nowait(queue_store.add_tracking(events))

    # -- stored deliveries -----------------------------------------------------------------
    def finish_deliveries(self, row_ids: list[int], state: str, error: str = "") -> None:
        """Deliveries done; written with the next batch (one job per loop turn), nobody waits."""
        if not self._finished:
            asyncio.get_running_loop().call_soon(self.flush_finished)
        self._finished.append((row_ids, state, error))

    def flush_finished(self) -> None:
        finished, self._finished = self._finished, []
        if finished:
            self._writer.submit_nowait(queue_store.finish_many(finished))

    def store_retry(self, row_ids: list[int], attempts: int, next_attempt: float, error: str) -> None:
        """Deliveries wait for a retry at *next_attempt* (wall time): what a restart resumes."""
        self._writer.submit_nowait(queue_store.reschedule(row_ids, attempts, next_attempt, error))

    async def settled(self) -> None:
        """Wait until every outcome noted so far is durable in the store (what reads of the
        store, like the oldest queued message, then see)."""
        self.flush_finished()
        self.flush_tracking()
        await self._writer.submit(lambda _connection: None)

    def flush(self) -> None:
        """Hand what is noted to the writer now (before it closes)."""
        self.flush_tracking()
        self.flush_finished()
