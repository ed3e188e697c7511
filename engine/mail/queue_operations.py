"""Operators' commands on the whole queue, also while a restart is still reading it.

``deleterecipients``, ``bouncerecipients`` and ``redirectrecipients`` act, on the
appliance, on every queued recipient.  After a restart the stored queue comes back in the
background, a page at a time (:meth:`engine.mail.mail_engine.MailEngine.start`), so such
a command finds only part of the queue in memory.  It acts on that part at once, and it
is kept until the recovery ends: each page the recovery reads is put through every kept
command, in the order they were given, before any connection may take it.  Each recipient
therefore gets exactly what it would have got had the whole queue been in memory when the
command was given; mail that arrives after the restart is never touched by it (its rows
are not read by the recovery).

``delivernow`` needs no such record: a recovered recipient is ready at once, not waiting
for a retry.  ``suspenddel`` is a state of the queues that recovered mail obeys too.

Tests: tests/engine/mail/test_queue_during_recovery.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeAlias

from engine.mail.delivery import DeliveryQueues, Shipment, shipment_matches
from engine.mail.tdc_queue import QUEUE as TDC_QUEUE
from engine.mail.tdc_queue import JournalCopy, TdcQueue

#: Stores that the deliveries with these row ids go to this host (a restart resumes there).
StoreDestination: TypeAlias = Callable[[list[int], str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Removal:
    """``deleterecipients`` / ``bouncerecipients``: by recipient host, by envelope sender,
    or everything (both None)."""

    host: str | None
    sender: str | None
    bounce: bool
    user: str

    @property
    def state(self) -> str:
        return "bounced" if self.bounce else "deleted"

    @property
    def takes_copies(self) -> bool:
        """Journal copies go with ``host the.tdc.queue`` and with ``all``; a copy's sender
        is the gateway (null), so a removal by sender never takes one."""
        return self.host in (None, TDC_QUEUE) and self.sender is None

    def takes(self, shipment: Shipment) -> bool:
        return self.host != TDC_QUEUE and shipment_matches(shipment, self.host, self.sender)


@dataclass(frozen=True, slots=True)
class Redirect:
    """``redirectrecipients``: every ordinary recipient goes to *host* instead."""

    host: str


Operation: TypeAlias = Removal | Redirect


class QueueOperations:
    """The commands above, on the queues in memory and on what the recovery still reads."""

    def __init__(self, delivery: DeliveryQueues, tdc: TdcQueue,
                 store_destination: StoreDestination) -> None:
        self._delivery = delivery
        self._tdc = tdc
        self._store_destination = store_destination
        #: the commands given since the recovery began, in order; None when none runs
        self._kept: list[Operation] | None = None

    # -- the recovery's side -------------------------------------------------------------
    def recovery_started(self) -> None:
        """From now until :meth:`recovery_ended`, commands are kept for the pages to come."""
        self._kept = []

    def recovery_ended(self) -> None:
        self._kept = None

    @property
    def recovering(self) -> bool:
        return self._kept is not None

    async def queue_recovered(self, shipments: list[Shipment],
                              copies: list[tuple[JournalCopy, bool]]) -> None:
        """Queue a page of recovered shipments and journal copies (each with whether its
        ``enqueued`` line is still to be written): every one is counted first, as the
        queues count it; then the kept commands act on the page, in order; what is left
        is offered to the connections.  All of it in one loop turn, so no connection takes
        a recipient before the commands had it; then the destinations the redirects gave
        are stored."""
        for shipment in shipments:
            self._delivery.enqueue(shipment, ready=False)
        for copy, log_enqueued in copies:
            self._tdc.enqueue(copy, log_enqueued=log_enqueued, ready=False)
        left, left_copies = shipments, [copy for copy, _ in copies]
        moved: list[Shipment] = []
        for operation in self._kept or ():
            if isinstance(operation, Removal):
                taken = [s for s in left if operation.takes(s)]
                left = [s for s in left if not operation.takes(s)]
                taken_copies, left_copies = ((left_copies, []) if operation.takes_copies
                                             else ([], left_copies))
                self._remove(operation, taken_copies, taken)
            else:
                self._move(left, operation.host)
                moved += left
        for shipment in left:
            self._delivery.make_ready(shipment)
        for copy in left_copies:
            self._tdc.make_ready(copy)
        await self._store_moves(moved)

    # -- the operators' side -------------------------------------------------------------
    def remove(self, removal: Removal) -> int:
        """Delete or bounce the selected recipients not in flight; returns how many were in
        memory (a running recovery removes the others as it reads them)."""
        self._keep(removal)
        copies = self._tdc.take() if removal.takes_copies else []
        shipments = ([] if removal.host == TDC_QUEUE else
                     self._delivery.take(host=removal.host, sender=removal.sender))
        return self._remove(removal, copies, shipments)

    async def redirect(self, redirect: Redirect) -> int:
        """Send every ordinary recipient not in flight to another host; returns how many
        were in memory (a running recovery moves the others as it reads them)."""
        self._keep(redirect)
        moved = self._delivery.take()
        self._move(moved, redirect.host)
        for shipment in moved:
            self._delivery.make_ready(shipment)
        await self._store_moves(moved)
        return sum(shipment.count for shipment in moved)

    # -- the work itself -----------------------------------------------------------------
    def _keep(self, operation: Operation) -> None:
        if self._kept is not None:
            self._kept.append(operation)

    def _remove(self, removal: Removal, copies: Iterable[JournalCopy],
                shipments: Iterable[Shipment]) -> int:
        count = 0
        for copy in copies:
            self._tdc.removed(copy, removal.state, removal.user)
            count += 1
        for shipment in shipments:
            count += shipment.count
            self._delivery.removed(shipment, removal.state, removal.user)
        return count

    def _move(self, shipments: Iterable[Shipment], host: str) -> None:
        for shipment in shipments:
            self._delivery.move(shipment, host)

    async def _store_moves(self, moved: list[Shipment]) -> None:
        """Store each moved delivery's destination, grouped by host (a page may have been
        moved twice: the last host is the one that counts)."""
        by_host: dict[str, list[int]] = {}
        for shipment in {id(s): s for s in moved}.values():
            by_host.setdefault(shipment.destination, []).extend(shipment.row_ids)
        for host, row_ids in by_host.items():
            await self._store_destination(row_ids, host)
