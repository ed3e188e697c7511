"""What the queues record of each step: mail log lines, tracking events and outcomes.

The listener, the work queue, the delivery queues, the TDC queue and bounces all write
the same three records (DESIGN.md, "Observability is the product"): a mail log line, a
message tracking event, and the state of a stored delivery (done, or waiting for its
retry).  They get this one object instead of the whole mail engine, so none of them can
reach anything else of it.

Tracking events and finished deliveries go to the store with the next group commit;
nobody waits for them, except :meth:`MailRecords.settled`.  Tracking events and the
other outcomes wait for the next loop turn (one job per turn); a delivered one does not:
until its state is durable a crash delivers it again, so it goes to the writer at once,
ahead of what waits there (:meth:`MailRecords.finish_deliveries`).

Tests: tests/engine/mail/test_records.py, test_tdc_timing.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.observe.mail_log import MailLog
from engine.store import queue_store
from engine.store.group_commit import GroupCommitWriter
from engine.store.queue_store import DELIVERED, OpenFinishes


class MailRecords:
    def __init__(self, mail_log: MailLog, writer: GroupCommitWriter, *,
                 now: Callable[[], float] = time.time) -> None:
        self.mail_log = mail_log
        self._writer = writer
        self._now = now  # the wall clock tracking events are stamped with
        self._tracking: list[tuple[int, float, str]] = []
        self._finished: list[tuple[list[int], str, str]] = []
        self._delivered: OpenFinishes | None = None  # the writer has not run it yet

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
        """Deliveries done; nobody waits.  Delivered ones go to the writer at once (see
        :meth:`_deliver`).  The others (bounced, expired, deleted) wait for the next loop
        turn (one job per turn), so they stay behind what the rest of this turn submits: the
        bounce message, submitted right after its recipients are noted bounced, is stored
        first (:mod:`engine.mail.bounces`)."""
        if state == DELIVERED:
            self._deliver(row_ids)
            return
        if not self._finished:
            asyncio.get_running_loop().call_soon(self.flush_finished)
        self._finished.append((row_ids, state, error))

    def flush_finished(self) -> None:
        finished, self._finished = self._finished, []
        if finished:
            self._writer.submit_nowait(queue_store.finish_many(finished))

    def _deliver(self, row_ids: list[int]) -> None:
        """The next hop said ``250``: until the store says "delivered", a crash means
        delivering again (at-least-once).  So the state is handed to the writer now, not
        at the next loop turn, and first: it makes the commit being built, or the next
        one.  It depends on nothing unwritten (the delivery rows were durable before the
        delivery started)."""
        if self._delivered is None or not self._delivered.add(row_ids, DELIVERED):
            self._delivered = OpenFinishes()
            self._delivered.add(row_ids, DELIVERED)
            self._writer.submit_first(self._delivered)

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
