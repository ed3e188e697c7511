"""Ordinary delivery: per-destination queues, connections, retries and expiry.

Each destination domain has a queue of shipments (one message's recipients at that
domain).  Connections open up to the destination's concurrency limit (``destconfig``)
and carry several messages each; a soft failure (4xx, network, DNS trouble) puts the
shipment back for a retry on the schedule of ``deliveryconfig`` (doubling from the
initial interval up to the maximum), a 5xx or NXDOMAIN bounces it, and a message that
stays queued past the maximum time in queue expires.

Tests: tests/engine/mail/test_delivery.py, test_delivery_reuse.py, test_ipv6_delivery.py.
"""

from __future__ import annotations

import contextlib
import sys
from array import array
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, TypeAlias

from engine.config.model import TlsMode
from engine.mail.bounce_message import Failure
from engine.mail.clock import LOOP_CLOCK, Clock, Timer
from engine.mail.link_tasks import IdleLinks, LinkTasks
from engine.observe import log_lines as lines
from engine.observe.counters import BounceCause
from engine.observe.timestamps import asctime
from engine.smtp.client import (
    SmtpClient,
    SmtpConnectionError,
    SmtpReplyError,
    SmtpTimeoutError,
    SmtpTlsError,
)
from engine.smtp.outbound import (
    NotReached,
    Target,
    Verdict,
    connect_first,
    connection_fault,
    reason_for,
    reply_verdict,
    route_for,
    status_for,
    verdict,
)
from engine.smtp.resolver import DnsError
from engine.smtp.tls import client_context, unverified_client_context

if TYPE_CHECKING:
    from engine.config.model import Config
    from engine.mail.records import MailRecords
    from engine.mail.work_queue import Accepted, Part
    from engine.observe.counters import Counters
    from engine.smtp.resolver import DnsResolver

#: Where bounces go: ``(original MID, sender, [(rid, failure)], original body, received at)``
#: (:meth:`engine.mail.bounces.Bounces.send`; bounces import this module, not the reverse).
SendBounce: TypeAlias = Callable[[int, str, Sequence[tuple[int, Failure]], bytes, float], None]

CONNECT_TIMEOUT = 60.0
#: The longest a connection waits for mail that is on its way to its destination's queue.
IDLE_HOLD = 5.0


def _compact(numbers: Sequence[int]) -> range | array[int]:
    """*numbers* in little memory: a ``range`` when they follow each other (a message's RIDs,
    the row ids stored for them in one transaction: nearly always), else an array."""
    if numbers and list(numbers) == list(range(numbers[0], numbers[0] + len(numbers))):
        return range(numbers[0], numbers[0] + len(numbers))
    return array("q", numbers)


class Shipment:
    """One message on its way to one destination domain.

    A big queue holds one per queued message and destination (100,000 for a million
    recipients, 10 per message), so it is compact: slots, and its recipients packed -- their
    addresses in one string (a tuple if one holds a line feed), their RIDs and store row ids
    as ranges or arrays -- about 40 bytes a recipient instead of about 170 for a list of
    ``(rid, address)`` tuples and a list of row ids.  :attr:`recipients` and
    :attr:`row_ids` read and set them as lists."""

    __slots__ = ("_addresses", "_rids", "_row_ids", "attempted", "attempts", "body",
                 "destination", "expires_at", "mid", "received_at", "sender")

    def __init__(self, mid: int, sender: str, destination: str,
                 recipients: Sequence[tuple[int, str]], body: bytes, received_at: float,
                 expires_at: float, row_ids: Sequence[int] = (), attempts: int = 0,
                 attempted: bool = False) -> None:
        self.mid, self.sender, self.destination = mid, sender, destination
        self.body, self.received_at, self.expires_at = body, received_at, expires_at
        self.attempts, self.attempted = attempts, attempted
        self.recipients = list(recipients)
        self.row_ids = list(row_ids)

    @property
    def recipients(self) -> list[tuple[int, str]]:
        """``(rid, address)`` of each recipient, in order."""
        addresses = self._addresses
        if isinstance(addresses, str):
            return list(zip(self._rids, addresses.split("\n"), strict=True)) if self._rids else []
        return list(zip(self._rids, addresses, strict=True))

    @recipients.setter
    def recipients(self, recipients: list[tuple[int, str]]) -> None:
        addresses = [address for _, address in recipients]
        self._rids = _compact([rid for rid, _ in recipients])
        packed = "\n".join(addresses)
        self._addresses = (packed if packed.count("\n") == max(0, len(addresses) - 1)
                           else tuple(addresses))

    @property
    def row_ids(self) -> list[int]:
        """The store row id of each recipient's delivery, in the order of :attr:`recipients`
        (empty until the shipment is stored)."""
        return list(self._row_ids)

    @row_ids.setter
    def row_ids(self, row_ids: Sequence[int]) -> None:
        self._row_ids = _compact(row_ids)

    @property
    def count(self) -> int:
        """How many recipients (without unpacking them)."""
        return len(self._rids)

    @property
    def rids(self) -> list[int]:
        return list(self._rids)

    @classmethod
    def for_part(cls, part: Part, message: Accepted) -> list[Shipment]:
        by_domain: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for rid, address in part.recipients:
            by_domain[address.rpartition("@")[2].lower()].append((rid, address))
        return [cls(part.mid, message.sender, domain, recipients, part.body, message.received_at,
                    0.0) for domain, recipients in by_domain.items()]

    @classmethod
    def from_rows(cls, rows: list[dict]) -> Shipment:
        """A recovered shipment; its sender and destination interned (the same few strings
        for many shipments, each read from the store as its own)."""
        first = rows[0]
        return cls(first["mid"], sys.intern(first["sender"]), sys.intern(first["destination"]),
                   [(r["rid"], r["recipient"]) for r in rows], first["body"], first["received_at"],
                   first["expires_at"], [r["id"] for r in rows], attempts=first["attempts"],
                   attempted=first["attempts"] > 0)

    def without(self, rids: set[int]) -> None:
        keep = [(recipient, row) for recipient, row
                in zip(self.recipients, self._row_ids, strict=True) if recipient[0] not in rids]
        self.recipients = [recipient for recipient, _ in keep]
        self.row_ids = [row for _, row in keep]

    def row_ids_of(self, rids: set[int]) -> list[int]:
        return [row for rid, row in zip(self._rids, self._row_ids, strict=True) if rid in rids]


def shipment_matches(shipment: Shipment, host: str | None, sender: str | None) -> bool:
    """Whether an operator's selection takes *shipment*: its destination is *host* and its
    envelope sender *sender* (either None: any), the sender compared without case."""
    return ((host is None or shipment.destination == host)
            and (sender is None or shipment.sender.lower() == sender.lower()))


@dataclass
class _Destination:
    ready: deque[Shipment] = field(default_factory=deque)
    links: int = 0
    #: accepted messages with recipients here that the work queue has not queued yet
    coming: int = 0
    #: links with nothing to send while more is coming
    idle: IdleLinks = field(default_factory=IdleLinks)
    #: the shipments being sent now
    sending: set[Shipment] = field(default_factory=set)


class DeliveryQueues:
    """Every ordinary destination's queue and connections.  They are handed what they use,
    no more: the running configuration (a getter: a commit applies at once), the records
    they write, DCIDs, the resolver, the counters and where bounces go.  Retries, expiry
    and idle connections run on *clock*."""

    def __init__(self, *, config: Callable[[], Config], records: MailRecords,
                 next_id: Callable[[str], int], resolver: DnsResolver, counters: Counters,
                 bounce: SendBounce, clock: Clock = LOOP_CLOCK) -> None:
        self._config = config
        self.records = records
        self._next_id = next_id
        self._resolver = resolver
        self._counters = counters
        self._send_bounce = bounce
        self._clock = clock
        self._destinations: dict[str, _Destination] = defaultdict(_Destination)
        self._open_shipments: Counter[int] = Counter()  # per MID, to log "Message finished"
        self._links = LinkTasks()
        self._waiting: dict[Shipment, Timer] = {}  # shipments waiting to retry
        self._stopping = False
        self.suspended = False

    def enqueue(self, shipment: Shipment, *, ready: bool = True) -> None:
        """Queue a stored shipment.  With ``ready=False`` it is counted (and its message
        open) but not yet offered to a connection: recovery first applies to a page of
        recovered shipments the operators' commands issued while it ran, then makes the
        rest ready (:meth:`make_ready`)."""
        if not shipment.expires_at:
            shipment.expires_at = shipment.received_at + self._config().delivery.max_queue_time
        host = self._counters.host(shipment.destination)
        host.queued(shipment.count)
        if shipment.attempted:  # recovered after a try: it counts as attempted again
            host.first_attempt(shipment.count)
        self._open_shipments[shipment.mid] += 1
        if ready:
            self._ready(shipment)

    def make_ready(self, shipment: Shipment) -> None:
        """Offer a shipment queued with ``ready=False`` (or moved) to its connections."""
        self._ready(shipment)

    def _ready(self, shipment: Shipment) -> None:
        destination = self._destinations[shipment.destination]
        destination.ready.append(shipment)
        destination.idle.wake()  # a link that waits for more takes it
        self._open_links(shipment.destination)

    # -- mail on its way to the queues -------------------------------------------------
    def expect(self, domains: Iterable[str]) -> None:
        """Messages for *domains* were accepted: their shipments are coming."""
        for domain in domains:
            self._destinations[domain].coming += 1

    def arrived(self, domains: Iterable[str]) -> None:
        """Those messages are through the work queue (queued here, or not at all)."""
        for domain in domains:
            destination = self._destinations[domain]
            destination.coming -= 1
            if destination.coming <= 0:
                # Nothing more is on its way: every idle link wakes up; those that find a
                # shipment ready carry it, the others close now (not after IDLE_HOLD).
                destination.idle.wake(everyone=True)

    async def stop(self) -> None:
        self._stopping = True
        for timer in self._waiting.values():
            timer.cancel()
        await self._links.cancel_all()

    # -- connections ------------------------------------------------------------------
    # -- what operators do (suspenddel, delivernow, deleterecipients, bouncerecipients) ----
    def suspend(self) -> None:
        """No new connections; what is queued stays queued (``suspenddel``)."""
        self.suspended = True
        for destination in self._destinations.values():
            destination.idle.wake(everyone=True)  # links waiting for mail close now

    def resume(self) -> None:
        self.suspended = False
        for name in list(self._destinations):
            self._open_links(name)

    def oldest(self, host: str) -> float | None:
        """When the oldest message queued for *host* (ready, waiting for a retry or being
        sent) was received (``hoststatus``).  A scan of what is queued, about 10 ms at
        100,000 shipments: no bookkeeping per message, and exact."""
        destination = self._destinations.get(host)
        ready = chain(destination.ready, destination.sending) if destination else ()
        waiting = (s for s in self._waiting if s.destination == host)
        return min((s.received_at for s in chain(ready, waiting)), default=None)

    def deliver_now(self, host: str | None = None) -> int:
        """Shipments waiting for a retry (for *host*, or all) are tried at once."""
        due = [s for s in self._waiting if host is None or s.destination == host]
        for shipment in due:
            self._waiting.pop(shipment).cancel()
            self._ready(shipment)
        return len(due)

    def take(self, *, host: str | None = None, sender: str | None = None) -> list[Shipment]:
        """Remove matching shipments that are not in flight (ready or waiting to retry) from
        the queues and hand them to the caller, who deletes, bounces or moves them."""
        def matches(shipment: Shipment) -> bool:
            return shipment_matches(shipment, host, sender)

        taken = [s for s in self._waiting if matches(s)]
        for shipment in taken:
            self._waiting.pop(shipment).cancel()
        for destination in self._destinations.values():
            keep = [s for s in destination.ready if not matches(s)]
            taken += [s for s in destination.ready if matches(s)]
            destination.ready.clear()
            destination.ready.extend(keep)
        return taken

    def move(self, shipment: Shipment, host: str) -> None:
        """A taken shipment goes to *host* instead (``redirectrecipients``): it counts
        under *host* from now on, as not yet attempted there.  The caller makes it ready."""
        count, old = shipment.count, self._counters.host(shipment.destination)
        if shipment.attempted:
            old.attempted -= count
        else:
            old.unattempted -= count
        shipment.destination, shipment.attempted = host, False
        self._counters.host(host).queued(count)

    def removed(self, shipment: Shipment, state: str, user: str) -> None:
        """Complete a taken shipment as deleted (``deleterecipients``) or bounced."""
        records, counters = self.records, self._counters.host(shipment.destination)
        if state == "deleted":
            counters.removed(shipment.count, attempted=shipment.attempted)
            records.log_and_track(shipment.mid, lines.deleted(shipment.mid, shipment.rids, user))
            records.finish_deliveries(shipment.row_ids, "deleted", f"deleted by {user}")
            self._shipment_done(shipment)
            return
        self._bounce(shipment.destination, 0, shipment, set(shipment.rids), "5.0.0", "000",
                     f"Bounced by {user}", BounceCause.OTHER)

    def _open_links(self, name: str) -> None:
        if self._stopping or self.suspended:
            return
        destination = self._destinations[name]
        config = self._config()
        limit = min(config.destination(name).max_concurrency, config.delivery.max_concurrency)
        while destination.ready and destination.links < min(limit, len(destination.ready)):
            destination.links += 1
            self._links.start(self._link(name))

    async def _link(self, name: str) -> None:
        destination = self._destinations[name]
        counters = self._counters.host(name)
        client: SmtpClient | None = None
        try:
            link = await self._connect(name)
            if link is None:
                return
            client, target, dcid = link
            counters.connections_out += 1
            try:
                await self._carry(name, client, target, dcid)
            finally:
                counters.connections_out -= 1
                self.records.log(lines.dcid_close(dcid))
        finally:
            destination.links -= 1
            if client is not None:
                client.abort()
            if destination.ready:
                self._open_links(name)

    async def _connect(self, name: str) -> tuple[SmtpClient, Target, int] | None:
        """DNS, TCP, greeting, EHLO and STARTTLS as the destination asks: the connection
        with its host and DCID, or None when it could not be had (reported here)."""
        try:
            route = await route_for(name, self._config(), self._resolver)
        except DnsError as error:
            self._dns_failure(name, error)
            return None
        if route.discard:
            self._discard(name)
            return None
        reached = await connect_first(route.targets, local_name=self._config().hostname,
                                      timeout=CONNECT_TIMEOUT,
                                      no_hosts="no hosts for this destination")
        # The DCID is given when the connection is had (or failed), not before: connections
        # opened together greet in any order, and the log must show DCIDs rising.
        dcid = self._next_id("dcid")
        if isinstance(reached, NotReached):
            self._connection_failure(name, dcid, reached.target, reached.error)
            return None
        client, target = reached.client, reached.target
        self.records.log(lines.new_dcid(dcid, client.local[0], target.address, target.port))
        try:
            await client.ehlo()
            await self._tls(name, client, target, dcid)
        except (SmtpReplyError, SmtpTlsError, SmtpConnectionError, SmtpTimeoutError) as failure:
            client.abort()
            self._connection_failure(name, dcid, target, failure)
            return None
        return client, target, dcid

    async def _tls(self, name: str, client: SmtpClient, target: Target, dcid: int) -> None:
        """STARTTLS as the destination's controls ask (``destconfig`` TLS setting)."""
        mode = self._config().destination(name).tls
        if mode is TlsMode.NO:
            return
        if not client.has_extension("STARTTLS") and mode in (TlsMode.PREFERRED,
                                                              TlsMode.PREFERRED_VERIFY):
            return
        verify = mode in (TlsMode.PREFERRED_VERIFY, TlsMode.REQUIRED_VERIFY)
        cas = [c.encode() for c in self._config().trusted_cas]
        context = client_context(cas, system_store=True) if verify else unverified_client_context()
        protocol, cipher = await client.starttls(context, target.hostname)
        self.records.log(lines.dcid_tls(dcid, protocol, cipher))
        await client.ehlo()

    async def _carry(self, name: str, client: SmtpClient, target: Target, dcid: int) -> None:
        destination = self._destinations[name]
        per_connection = self._config().destination(name).max_messages_per_connection
        for _ in range(per_connection):
            if not destination.ready and destination.coming > 0 and not self.suspended:
                await self._more(destination)
            if not destination.ready or self.suspended:
                break
            shipment = destination.ready.popleft()
            destination.sending.add(shipment)
            try:
                if not await self._send(name, client, target, dcid, shipment):
                    return
            finally:
                destination.sending.discard(shipment)
        with contextlib.suppress(Exception):
            await client.quit()

    async def _more(self, destination: _Destination) -> None:
        """The queue is empty but mail for this destination is on its way through the work
        queue (a few milliseconds): wait for it on this connection instead of closing it and
        opening another one; close once nothing more is coming (or after ``IDLE_HOLD``)."""
        await destination.idle.wait(self._clock, IDLE_HOLD)

    async def _send(self, name: str, client: SmtpClient, target: Target, dcid: int,
                    shipment: Shipment) -> bool:
        """One shipment; False when the connection cannot carry more."""
        self._attempted(name, shipment)
        self.records.log(lines.delivery_start(dcid, shipment.mid, shipment.rids))
        try:
            result = await client.send(shipment.sender, [a for _, a in shipment.recipients],
                                       shipment.body)
        except SmtpReplyError as error:
            self._refused(name, dcid, shipment, error.code, error.enhanced, error.text,
                          {rid for rid, _ in shipment.recipients})
            return not client.closed
        except (SmtpConnectionError, SmtpTimeoutError) as error:
            self._connection_failure(name, dcid, target, error, [shipment])
            return False
        refused = {r.recipient: r for r in result.refused}
        if refused:
            self._refused_some(name, dcid, shipment, refused)
        accepted = [rid for rid, address in shipment.recipients if address not in refused]
        reply = result.reply
        self._delivered(name, dcid, shipment, accepted,
                        lines.as_sent(reply.enhanced, reply.message) if reply else "")
        return True

    def _attempted(self, name: str, shipment: Shipment) -> None:
        """Its recipients move from unattempted to attempted at the first try, whatever
        then fails (connection, DNS or the transaction)."""
        if not shipment.attempted:
            shipment.attempted = True
            self._counters.host(name).first_attempt(shipment.count)

    # -- outcomes -----------------------------------------------------------------------
    def _delivered(self, name: str, dcid: int, shipment: Shipment, rids: list[int],
                   response: str) -> None:
        records = self.records
        records.log_and_track(shipment.mid, lines.message_done(dcid, shipment.mid, rids))
        records.log(lines.response(shipment.mid, rids, response))
        self._counters.host(name).delivered_ok(len(rids), attempted=shipment.attempted)
        records.finish_deliveries(shipment.row_ids_of(set(rids)), "delivered")
        self._shipment_done(shipment)

    def _shipment_done(self, shipment: Shipment) -> None:
        self._open_shipments[shipment.mid] -= 1
        if self._open_shipments[shipment.mid] <= 0:
            del self._open_shipments[shipment.mid]
            self.records.log(lines.message_finished(shipment.mid))

    def _refused(self, name: str, dcid: int, shipment: Shipment, code: int, enhanced: str | None,
                 text: str, rids: set[int]) -> None:
        """A reply refused the whole message: bounce on 5xx, retry on 4xx."""
        status = status_for(code, enhanced)
        if reply_verdict(code) is Verdict.HARD:
            sent = lines.as_sent(enhanced, text)
            self._bounce(name, dcid, shipment, rids, status, str(code), sent, BounceCause.SMTP_5XX)
        else:
            self._delay(name, dcid, shipment, status, str(code), lines.as_sent(enhanced, text))

    def _refused_some(self, name: str, dcid: int, shipment: Shipment, refused: dict) -> None:
        """Some recipients refused at RCPT while others were taken: split them off."""
        verdicts = {a: reply_verdict(r.code) for a, r in refused.items()}
        hard = {rid for rid, a in shipment.recipients if verdicts.get(a) is Verdict.HARD}
        soft = {rid for rid, a in shipment.recipients if verdicts.get(a) is Verdict.RETRY}
        for rid, address in list(shipment.recipients):
            if rid in hard:
                r = refused[address]
                status = status_for(r.code, r.enhanced)
                self._bounce_one(name, dcid, shipment, rid, address, status, str(r.code),
                                 lines.as_sent(r.enhanced, r.text),
                                 BounceCause.SMTP_5XX)
        if soft:
            retry = Shipment(shipment.mid, shipment.sender, shipment.destination,
                             [(rid, a) for rid, a in shipment.recipients if rid in soft],
                             shipment.body, shipment.received_at, shipment.expires_at,
                             shipment.row_ids_of(soft), shipment.attempts, True)
            self._open_shipments[shipment.mid] += 1
            first = refused[retry.recipients[0][1]]
            self._delay(name, dcid, retry, status_for(first.code, first.enhanced), str(first.code),
                        lines.as_sent(first.enhanced, first.text))
        shipment.without(hard | soft)

    def _bounce(self, name: str, dcid: int, shipment: Shipment, rids: set[int], status: str,
                code: str, text: str, cause: BounceCause) -> None:
        """Hard bounces: logged and counted per recipient, and one bounce message to the
        sender for them all (queued before their outcome, see :mod:`engine.mail.bounces`)."""
        failed = [(rid, address) for rid, address in shipment.recipients if rid in rids]
        for rid, address in failed:
            self._bounce_one(name, dcid, shipment, rid, address, status, code, text, cause)
        self._send_bounce(
            shipment.mid, shipment.sender,
            [(rid, Failure(address, status, reason_for(status), code, text))
             for rid, address in failed],
            shipment.body, shipment.received_at)
        self._shipment_done(shipment)

    def _bounce_one(self, name: str, dcid: int, shipment: Shipment, rid: int, address: str,
                    status: str, code: str, text: str, cause: BounceCause) -> None:
        line = lines.bounced(dcid, shipment.mid, shipment.sender, address, rid, status,
                             reason_for(status), code, text)
        self.records.log_and_track(shipment.mid, line)
        self._counters.host(name).hard_bounce(cause, attempted=shipment.attempted)
        self.records.finish_deliveries(shipment.row_ids_of({rid}), "bounced", f"{code} {text}")

    def _delay(self, name: str, dcid: int, shipment: Shipment, status: str, code: str,
               text: str) -> None:
        records = self.records
        for rid, address in shipment.recipients:
            records.log_and_track(shipment.mid, lines.delayed(
                dcid, shipment.mid, shipment.sender, address, rid, status, reason_for(status),
                code, text))
        self._counters.host(name).soft_bounce(f"{code} {text}")
        self._retry_later(shipment, f"{code} {text}")

    def _retry_later(self, shipment: Shipment, error: str) -> None:
        delivery = self._config().delivery
        shipment.attempts += 1
        delay = min(delivery.initial_retry * 2 ** (shipment.attempts - 1), delivery.max_retry)
        clock = self._clock
        when = min(clock.time() + delay, shipment.expires_at)
        self.records.log(lines.pending_till(shipment.mid, shipment.rids,
                                            asctime(datetime.fromtimestamp(when, UTC))))
        self.records.store_retry(shipment.row_ids, shipment.attempts, when, error)
        self._waiting[shipment] = clock.call_later(max(0.0, when - clock.time()), self._retry_due,
                                                   shipment)

    def _retry_due(self, shipment: Shipment) -> None:
        self._waiting.pop(shipment, None)
        if self._clock.time() >= shipment.expires_at:
            rids = set(shipment.rids)
            self._bounce(shipment.destination, 0, shipment, rids, "5.4.7", "000", "timeout",
                         BounceCause.EXPIRED)
            return
        self._ready(shipment)

    def _connection_failure(self, name: str, dcid: int, target: Target | None, error: Exception,
                            shipments: list[Shipment] | None = None) -> None:
        """The host could not be reached: what was waiting for it tries again later."""
        fault = connection_fault(target, error)
        self.records.log(lines.connection_error(dcid, name, fault.ip, fault.port, fault.details,
                                                "0.0.0.0", fault.reason))
        waiting = shipments if shipments is not None else self._take_all(name)
        for shipment in waiting:
            self._attempted(name, shipment)
            self._counters.host(name).soft_bounce(str(error))
            self._retry_later(shipment, str(error))

    def _dns_failure(self, name: str, error: DnsError) -> None:
        hard = verdict(error) is Verdict.HARD
        self.records.log(lines.dns_failure(error.domain, error.rdtype, error.reason, permanent=hard))
        text = (lines.dns_bounce_text(error.domain, error.rdtype, error.reason) if hard else
                lines.dns_failure_text(error.domain, error.rdtype, error.reason, permanent=False))
        for shipment in self._take_all(name):
            if hard:
                self._bounce(name, 0, shipment, set(shipment.rids), "5.1.2", "000", text,
                             BounceCause.DNS)
            else:
                self._attempted(name, shipment)
                self._counters.host(name).soft_bounce(text)
                self._retry_later(shipment, text)

    def _discard(self, name: str) -> None:
        """``smtproutes`` to /dev/null: the mail is delivered to nowhere."""
        for shipment in self._take_all(name):
            self._delivered(name, 0, shipment, shipment.rids, "discarded (/dev/null)")

    def _take_all(self, name: str) -> list[Shipment]:
        ready = self._destinations[name].ready
        taken = list(ready)
        ready.clear()
        return taken
