"""Bounce messages to senders: made, stored and queued like any other mail.

When recipients of a message hard-bounce, the gateway writes the AsyncOS lines for a new
message (``MID n was generated for bounce of MID m``, ``Start MID n ICID 0``, its
envelope, ``ready``), stores it with its delivery in one transaction and, once that is
durable, queues it for delivery to the sender's domain like any outgoing message.  The
store job is queued ahead of the original's own "bounced" outcome, so after a crash the
bounce is never missing while the bounced recipients are already marked done.

No bounce is made for mail from the null sender (bounces themselves and the journal
copies of the Threat Defense Connector): that is a "Double bounce", logged and dropped.

Tests: tests/engine/mail/test_bounces.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.mail.bounce_message import SUBJECT, Failure, bounce_message
from engine.mail.clock import LOOP_CLOCK, Clock
from engine.mail.delivery import Shipment
from engine.observe import log_lines as lines
from engine.store import queue_store
from engine.store.queue_store import NewDelivery, NewMessage

if TYPE_CHECKING:
    from engine.config.model import Config
    from engine.mail.records import MailRecords
    from engine.observe.counters import Counters
    from engine.store.group_commit import GroupCommitWriter

log = logging.getLogger(__name__)


class Bounces:
    """Makes, stores and queues bounce messages.  It is handed what it uses: the running
    configuration (a getter), the records it writes, MIDs, the counters, the store's writer
    and the ordinary delivery queue's ``enqueue``; *clock* dates the bounce message."""

    def __init__(self, *, config: Callable[[], Config], records: MailRecords,
                 next_id: Callable[[str], int], counters: Counters, writer: GroupCommitWriter,
                 enqueue: Callable[[Shipment], None], clock: Clock = LOOP_CLOCK) -> None:
        self._config = config
        self.records = records
        self._next_id = next_id
        self._counters = counters
        self._writer = writer
        self._enqueue = enqueue
        self._clock = clock

    def send(self, original_mid: int, sender: str, failures: Sequence[tuple[int, Failure]],
             original: bytes, received_at: float) -> None:
        """Tell *sender* that these recipients (``(rid, failure)``) of *original_mid* failed."""
        if not failures:
            return
        if not sender:
            for rid, f in failures:
                self.records.log(lines.double_bounce(original_mid, rid, f.status, f.reason,
                                                     f.code, f.text))
            return
        config = self._config()
        mid = self._next_id("mid")
        now = self._clock.time()
        body = bounce_message(
            gateway=config.hostname, sender=sender, failures=[f for _, f in failures],
            original=original, mid=mid, original_mid=original_mid,
            received=datetime.fromtimestamp(received_at, UTC), when=datetime.fromtimestamp(now, UTC))
        domain = sender.rpartition("@")[2].lower()
        expires = now + config.delivery.max_queue_time
        message = NewMessage(mid=mid, icid=0, sender="", recipients=(sender,), body=body,
                             received_at=now, message_id=f"<bounce.{mid}@{config.hostname}>",
                             subject=SUBJECT, direction="outgoing", kind="bounce",
                             origin_mid=original_mid, state="queued")
        for line in (lines.bounce_generated(mid, original_mid), lines.start_mid(mid, 0),
                     lines.mail_from(mid, 0, ""), lines.rcpt_to(mid, 0, 0, sender),
                     lines.subject(mid, SUBJECT), lines.ready(mid, len(body), ""),
                     lines.queued(mid)):
            self.records.log_and_track(mid, line)
        self._counters.system.generated_bounces += 1
        shipment = Shipment(mid, "", domain, [(0, sender)], body, now, expires)
        stored = self._writer.submit(queue_store.insert_queued(
            message, [NewDelivery(mid, 0, sender, domain, now, expires)]))
        stored.add_done_callback(lambda done: self._stored(done, shipment))

    def _stored(self, done: asyncio.Future[list[int]], shipment: Shipment) -> None:
        if done.cancelled() or done.exception() is not None:
            log.error("could not store the bounce message MID %s: %s", shipment.mid,
                      done.exception() if not done.cancelled() else "cancelled")
            return
        shipment.row_ids = done.result()
        self._enqueue(shipment)
