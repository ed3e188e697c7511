"""``the.tdc.queue``: journal copies on their way to Secure Email Threat Defense.

The connector's rules (SPEC.md §1 and the rulings of §4), in one place:

* While copies wait, at least ``min_connections`` (3) connections are open to the
  intake domain's MX -- also for a retry after a failed connection; more open, one at a
  time, while the backlog outgrows them (slow start) up to ``max_connections``; idle ones
  close after ``idle_timeout`` and all of them as soon as nothing is left (nothing queued,
  and no accepted message still in the work queue that may give a copy).  Each ends with
  ``DCID n close``; a DCID is given when the connection is had, so DCIDs rise in the log.
* A connection is opened for the copy at the head of the queue and carries it first;
  the extra ones carry nothing until a copy is handed to them.  A failure before the
  hand-over (connect, greeting, EHLO, STARTTLS) counts against the copy the connection
  was opened for, or nobody; a DNS failure counts against every copy of that domain.
* Retries: 5xx other than 503/552 and TLS errors end the copy; 4xx, 503, 552, network
  and DNS errors allow one retry, ``retry_delay`` later, with a fresh lookup.
* The limit is hard: at enqueue + ``queue_limit`` the copy leaves the queue whatever it
  is doing, and an attempt in flight is cancelled where it is (connect, greeting, a
  reply) and logged once, with its reason.
* STARTTLS with TLS 1.2 or newer and a verified certificate is required.

Tests: tests/engine/mail/test_tdc_queue.py (real time), test_tdc_timing.py (fake clock).
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.config.model import TdcTimers
from engine.mail.clock import LOOP_CLOCK, Clock, Timer
from engine.mail.link_tasks import IdleLinks, LinkTasks
from engine.observe import log_lines as lines
from engine.observe.counters import BounceCause
from engine.smtp.client import (
    MessageData,
    SmtpClient,
    SmtpConnectionError,
    SmtpReplyError,
    SmtpTimeoutError,
    SmtpTlsError,
)
from engine.smtp.outbound import (
    TDC_RETRYABLE_5XX,
    ConnectionFault,
    NotReached,
    Route,
    Target,
    Verdict,
    connect_first,
    connection_fault,
    reason_for,
    route_for,
    status_for,
    timeout_fault,
    verdict,
)
from engine.smtp.resolver import DnsError

if TYPE_CHECKING:
    from engine.config.model import Config, TdcTimers
    from engine.mail.records import MailRecords
    from engine.observe.counters import Counters
    from engine.smtp.resolver import DnsResolver
    from engine.smtp.tls import ClientTls

QUEUE = lines.TDC_QUEUE
#: Bytes of queued copies' bodies the queue keeps in memory.  Beyond them a copy the store
#: holds whole keeps only its record, and its body is read back when a connection takes
#: it: SETD unreachable while mail keeps coming queues rate x 120 s of copies (12,000 at
#: 100 messages/s), whose bodies would otherwise all be held (issue 14).
BODIES_IN_MEMORY = 16 * 1024 * 1024


def hard_limit(enqueued_at: float, timers: TdcTimers) -> float:
    """When a copy enqueued at *enqueued_at* leaves the queue, whatever it is doing
    (SPEC.md §4 ruling 3: enqueue + 120 s, scaled)."""
    return enqueued_at + timers.scaled(timers.queue_limit)


@dataclass(eq=False, slots=True)
class JournalCopy:
    mid: int
    original_mid: int
    row_id: int
    intake: str
    message_id: str
    #: the copy, or its pieces (its head, the original it carries, its tail: a big original
    #: is not held a second time for its copy); empty: read from the store when sent
    body: MessageData
    enqueued_at: float
    deadline: float
    #: the store holds the whole copy (not pieces around a spool file): its body may be
    #: let go while it waits and read back when sent
    stored_whole: bool = False
    held: int = 0  # bytes of its body the queue counts as held in memory
    failures: int = 0
    attempted: bool = False
    state: str = "queued"  # queued | waiting (for its retry) | sending | done
    link: _Link | None = None  # the connection carrying it, while one does
    timer: Timer | None = None  # the hard limit
    retry: Timer | None = None  # its one retry, while it waits for it

    @property
    def domain(self) -> str:
        return self.intake.rpartition("@")[2].lower()


@dataclass(eq=False)
class _Link:
    """One outbound connection of the queue (opened, or being opened)."""

    domain: str
    charged: JournalCopy | None
    allocate: Callable[[], int]  # a new DCID
    client: SmtpClient | None = None
    target: Target | None = None
    local_ip: str = "0.0.0.0"
    task: asyncio.Task[None] | None = None  # the task running it
    aborted: bool = False  # cut by the hard limit: it has been logged, nothing more is
    carrying: JournalCopy | None = None  # the copy last handed to it (sending while it says so)

    numbered: int | None = None

    @property
    def dcid(self) -> int:
        """Given when first logged (the connection had its host, or failed), not when the
        task starts: connections opened together greet in any order, and the log must show
        DCIDs rising in the order the connections were had."""
        if self.numbered is None:
            self.numbered = self.allocate()
        return self.numbered

    def trying(self, target: Target) -> None:
        """The host being tried now (what the hard limit names if it cuts the attempt)."""
        self.target = target


@dataclass
class _Domain:
    ready: deque[JournalCopy] = field(default_factory=deque)
    outstanding: int = 0  # copies not yet done: ready, waiting for a retry, or sending
    links: set[_Link] = field(default_factory=set)
    idle: IdleLinks = field(default_factory=IdleLinks)  # connections waiting for a copy
    up: bool = True  # the last connection attempt worked: failed extras are replaced


class TdcQueue:
    """The queue and its connections.  It is handed what it uses, no more: the running
    configuration (a getter: a commit applies at once), the records it writes, DCIDs,
    the resolver, the counters and the verifying TLS client for SETD.  Its timings (the
    retry, the hard limit, idle connections) run on *clock*."""

    def __init__(self, *, config: Callable[[], Config], records: MailRecords,
                 next_id: Callable[[str], int], resolver: DnsResolver, counters: Counters,
                 tls: Callable[[], ClientTls], clock: Clock = LOOP_CLOCK,
                 load_body: Callable[[int], Awaitable[bytes]] | None = None,
                 bodies_in_memory: int = BODIES_IN_MEMORY) -> None:
        self._config = config
        self.records = records
        #: reads a stored copy's body by MID: a recovered copy comes back without it
        #: (100,000 queued copies would hold 100,000 bodies) and reads it when sent
        self._load_body = load_body
        #: the budget of BODIES_IN_MEMORY (a test sets a smaller one)
        self.bodies_in_memory = bodies_in_memory
        self._held = 0  # bytes of the queued copies' bodies held (see BODIES_IN_MEMORY)
        self._next_id = next_id
        self._resolver = resolver
        self._tls = tls
        self._clock = clock
        self.counters = counters.host(QUEUE)
        self._domains: dict[str, _Domain] = {}
        self._links = LinkTasks()
        self._stopping = False
        self.suspended = False
        self._retrying: set[JournalCopy] = set()  # copies waiting for their one retry
        self._lookups: dict[str, asyncio.Future[Route]] = {}
        # (enqueued_at, MID) of the copies on the queue, oldest first; entries of copies
        # already done are dropped when they reach the top (see oldest)
        self._ages: list[tuple[float, int]] = []
        self._queued_mids: set[int] = set()
        self._coming = 0  # accepted messages still in the work queue: copies may come of them

    # -- what the engine calls -------------------------------------------------------
    def enqueue(self, copy: JournalCopy, *, log_enqueued: bool = True,
                ready: bool = True) -> None:
        """Queue a stored copy (at once after the work queue, or after a restart).  With
        ``ready=False`` it is counted and its hard limit runs, but no connection takes it
        until :meth:`make_ready` (recovery applies operators' commands first)."""
        if log_enqueued:
            self.records.log(lines.tdc_enqueued(copy.mid, copy.message_id, copy.intake))
        self.counters.queued()
        self._hold_or_let_go(copy)
        if copy.attempted:  # recovered after a try: it counts as attempted again
            self.counters.first_attempt()
        heapq.heappush(self._ages, (copy.enqueued_at, copy.mid))
        self._queued_mids.add(copy.mid)
        domain = self._domain(copy.domain)
        domain.outstanding += 1
        clock = self._clock
        copy.timer = clock.call_later(max(0.0, copy.deadline - clock.time()), self._expire, copy)
        if ready:
            self._make_ready(copy)

    def _hold_or_let_go(self, copy: JournalCopy) -> None:
        """Keep the copy's body in memory while the bodies held stay within the budget;
        else let it go (the store has it: :meth:`_send` reads it back)."""
        if not copy.stored_whole or self._load_body is None or not copy.body:
            return
        size = _size(copy.body)
        if self._held + size > self.bodies_in_memory:
            copy.body = b""
            return
        copy.held = size
        self._held += size

    @property
    def bodies_held(self) -> int:
        """Bytes of queued copies' bodies held in memory (at most BODIES_IN_MEMORY)."""
        return self._held

    # -- copies on their way (the work queue) -------------------------------------------
    def expect(self) -> None:
        """A message was accepted: a journal copy may come of it once it is worked.  While
        one may, an idle connection waits for it (up to the idle timeout) instead of
        closing because the queue is empty for a moment -- "the queue" is what is queued and
        what is on its way, as for the ordinary delivery queues (engine/mail/delivery.py,
        IDLE_HOLD).  Without it, at 200 messages/s the queue emptied between copies and
        every copy had connections of its own: a TLS handshake per copy (issue 14)."""
        self._coming += 1

    def arrived(self) -> None:
        """That message is through the work queue (its copy queued, or none made)."""
        self._coming -= 1
        if self._coming <= 0:
            for domain in self._domains.values():
                if domain.outstanding == 0:
                    domain.idle.wake(everyone=True)  # its idle connections close now

    def make_ready(self, copy: JournalCopy) -> None:
        """Offer a copy queued with ``ready=False`` to the connections (unless it is gone:
        its hard limit may have come meanwhile)."""
        if copy.state == "queued":
            self._make_ready(copy)

    @property
    def active(self) -> int:
        return sum(d.outstanding for d in self._domains.values())

    def connections(self) -> int:
        return sum(len(d.links) for d in self._domains.values())

    def oldest(self) -> float | None:
        """When the oldest copy still on the queue was enqueued (a journal copy is received
        when it is enqueued): ``hoststatus the.tdc.queue``'s Oldest Message, from memory.
        The store can say it too, but only with a query over every queued copy run in a
        thread, which the event loop and the writer thread make wait for the GIL when mail
        flows (tens of ms at 100 messages/s, benchmarks/setd_outage.py)."""
        self._drop_done_ages()
        return self._ages[0][0] if self._ages else None

    def _drop_done_ages(self) -> None:
        """Forget the ages of done copies at the top.  Every copy leaves within the hard
        limit, so those left below the top are bounded by what arrives in that time."""
        ages, queued = self._ages, self._queued_mids
        while ages and ages[0][1] not in queued:
            heapq.heappop(ages)

    async def stop(self) -> None:
        self._stopping = True
        await self._links.cancel_all()
        for domain in self._domains.values():
            for copy in domain.ready:
                if copy.timer:
                    copy.timer.cancel()

    # -- what operators do (suspenddel, delivernow, deleterecipients, bouncerecipients) ----
    def suspend(self) -> None:
        """No new connections and no new hand-overs; the hard limit still runs."""
        self.suspended = True

    def resume(self) -> None:
        self.suspended = False
        for name, domain in self._domains.items():
            domain.idle.wake(everyone=True)
            self._open_connections(name)

    def deliver_now(self) -> int:
        """Copies waiting for their retry are tried at once."""
        due = list(self._retrying)
        for copy in due:
            if copy.retry:
                copy.retry.cancel()
            self._retry_due(copy)
        return len(due)

    def take(self) -> list[JournalCopy]:
        """Remove every copy not in flight (queued or waiting for its retry) from the queue."""
        taken = [c for d in self._domains.values() for c in d.ready if c.state == "queued"]
        for domain in self._domains.values():
            domain.ready.clear()
        for copy in self._retrying:
            if copy.retry:
                copy.retry.cancel()
            taken.append(copy)
        self._retrying.clear()
        return taken

    def removed(self, copy: JournalCopy, state: str, user: str) -> None:
        """Complete a taken copy as deleted or bounced by an operator."""
        if state == "deleted":
            attempted = copy.attempted
            self._done(copy, "deleted", f"deleted by {user}")
            self.counters.removed(attempted=attempted)
            self.records.log(lines.deleted(copy.mid, [0], user))
            self.records.log(lines.message_finished(copy.mid, "aborted"))
        else:
            self._fail(copy, f"Bounced by {user}", BounceCause.OTHER, f"bounced by {user}")

    # -- queue state -------------------------------------------------------------------
    def _domain(self, name: str) -> _Domain:
        if name not in self._domains:
            self._domains[name] = _Domain()
        return self._domains[name]

    def _make_ready(self, copy: JournalCopy) -> None:
        copy.state = "queued"
        domain = self._domain(copy.domain)
        domain.ready.append(copy)
        domain.idle.wake()  # one idle connection takes it
        self._open_connections(copy.domain)

    def _take(self, domain: _Domain) -> JournalCopy | None:
        while domain.ready:
            copy = domain.ready.popleft()
            if copy.state == "queued":
                return copy
        return None

    def _hand_over(self, copy: JournalCopy, link: _Link) -> None:
        copy.state = "sending"
        copy.link = link
        link.carrying = copy
        if not copy.attempted:
            copy.attempted = True
            self.counters.first_attempt()

    def _done(self, copy: JournalCopy, state: str, error: str = "") -> None:
        """The copy leaves the queue: delivered, bounced or expired."""
        copy.state = "done"
        copy.link = None
        self._held -= copy.held
        copy.held = 0
        if copy.stored_whole:
            copy.body = b""  # a reference left to the copy (a link's) does not keep it
        self._retrying.discard(copy)
        self._queued_mids.discard(copy.mid)
        self._drop_done_ages()
        for timer in (copy.timer, copy.retry):
            if timer:
                timer.cancel()
        domain = self._domain(copy.domain)
        domain.outstanding -= 1
        if domain.outstanding == 0 and self._coming <= 0:
            domain.idle.wake(everyone=True)  # nothing left or coming: idle ones close
        self.records.finish_deliveries([copy.row_id], state, error)

    # -- outcomes ----------------------------------------------------------------------
    def _delivered(self, copy: JournalCopy) -> None:
        attempted = copy.attempted
        self._done(copy, "delivered")
        self.counters.delivered_ok(attempted=attempted)
        self.records.log(lines.tdc_delivered(copy.mid))
        self.records.log(lines.message_finished(copy.mid))
        self.records.track(copy.original_mid, lines.tdc_tracking_delivered(copy.mid))

    def _fail(self, copy: JournalCopy, why: str, cause: BounceCause, error: str,
              then: tuple[str, ...] = ()) -> None:
        """The copy is gone; *then* are lines that belong right after the failure line
        (the NXDOMAIN sample of SPEC.md §2 has its ``Bounced:`` line there)."""
        attempted = copy.attempted
        self._done(copy, "bounced", error)
        self.counters.hard_bounce(cause, attempted=attempted)
        self.records.log(lines.tdc_failed(copy.mid, why))
        for line in then:
            self.records.log(line)
        self.records.log(lines.message_finished(copy.mid, "aborted"))
        self.records.track(copy.original_mid, lines.tdc_failed(copy.mid, why))

    def _tls_error(self, copy: JournalCopy, details: str) -> None:
        attempted = copy.attempted
        self._done(copy, "bounced", details)
        self.counters.hard_bounce(BounceCause.OTHER, attempted=attempted)
        self.records.log(lines.tdc_tls_error(copy.mid))
        self.records.log(lines.message_finished(copy.mid, "aborted"))
        self.records.track(copy.original_mid, lines.tdc_tls_error(copy.mid))

    def _hard_bounce(self, copy: JournalCopy, dcid: int, code: str, status: str, text: str,
                     cause: BounceCause) -> None:
        reason = reason_for(status)
        self.records.log(lines.tdc_hard_bounced(status, reason, code, text))
        self._fail(copy, "Hard Bounced", cause, f"{code} {text}",
                   then=(lines.tdc_bounced(dcid, copy.mid, status, reason, code, text),))

    def _retry_or_fail(self, copy: JournalCopy, error: str) -> None:
        """A retryable failure: the copy's one retry, or the end of it."""
        copy.failures += 1
        copy.link = None
        self.counters.soft_bounce(error)
        if copy.failures > 1:
            self._fail(copy, "Retries Exhausted", BounceCause.OTHER, error)
            return
        copy.state = "waiting"
        delay = self._timers.scaled(self._timers.retry_delay)
        self._retrying.add(copy)
        copy.retry = self._clock.call_later(delay, self._retry_due, copy)
        self.records.store_retry([copy.row_id], copy.failures, self._clock.time() + delay, error)

    def _retry_due(self, copy: JournalCopy) -> None:
        self._retrying.discard(copy)
        if copy.state == "waiting":
            self._make_ready(copy)

    def _expire(self, copy: JournalCopy) -> None:
        """The hard limit: the copy leaves now, and an attempt carrying it is aborted."""
        if copy.state == "done":
            return
        link = copy.link
        if link is not None:
            # One line for the event: the attempt is cancelled where it is (connect,
            # greeting, a reply), so its own timeout or the cut never log again.
            self._log_fault(link, timeout_fault(link.target))
            link.aborted = True
            if link.client is not None:
                link.client.abort()
            if link.task is not None:
                link.task.cancel()
        self._fail(copy, "Expired", BounceCause.EXPIRED, "expired in queue")

    # -- connections ---------------------------------------------------------------------
    @property
    def _timers(self) -> TdcTimers:
        return self._config().tdc.timers

    def _open_connections(self, name: str) -> None:
        """Keep the minimum while copies wait; add one when the backlog outgrows them."""
        domain = self._domain(name)
        timers = self._timers
        if not domain.ready or self.suspended:
            return
        opened_for_copy = False
        if not domain.links:
            head = self._take(domain)
            if head is None:
                return
            self._start_link(name, head)
            opened_for_copy = True
        if not domain.up and not opened_for_copy:
            # While the host fails, a failed extra connection is not replaced (that would
            # spin); the minimum comes back with the next connection opened for a copy.
            return
        wanted = timers.min_connections
        backlog = len(domain.ready)
        if domain.up and backlog > len(domain.links):
            wanted = max(wanted, len(domain.links) + 1)  # slow start: one more at a time
        while len(domain.links) < min(wanted, timers.max_connections):
            self._start_link(name, None)

    def _start_link(self, name: str, charged: JournalCopy | None) -> None:
        link = _Link(name, charged, lambda: self._next_id("dcid"))
        if charged is not None:
            self._hand_over(charged, link)
        self._domain(name).links.add(link)
        link.task = self._links.start(self._run(link))

    async def _run(self, link: _Link) -> None:
        domain = self._domain(link.domain)
        try:
            self.counters.pending_connections += 1
            try:
                client = await self._connect(link)
            finally:
                self.counters.pending_connections -= 1
            if client is not None:
                self.counters.connections_out += 1
                try:
                    await self._carry(link, client)
                finally:
                    self.counters.connections_out -= 1
                    self.records.log(lines.dcid_close(link.dcid))  # as ordinary delivery does
        finally:
            domain.links.discard(link)
            if link.client is not None:
                link.client.abort()  # a no-op after QUIT; cuts a connection left mid-way
            if not self._stopping:
                self._open_connections(link.domain)

    def _route(self, name: str) -> asyncio.Future[Route]:
        """One lookup for the connections opened together (the resolver caches answers)."""
        pending = self._lookups.get(name)
        if pending is None:
            pending = asyncio.ensure_future(route_for(name, self._config(), self._resolver))
            self._lookups[name] = pending
            pending.add_done_callback(lambda _done: self._lookups.pop(name, None))
        return pending

    async def _connect(self, link: _Link) -> SmtpClient | None:
        """DNS, TCP, greeting, EHLO and STARTTLS: the connection ready to carry copies, or
        None when it failed (failures charge ``link.charged``)."""
        config, timers = self._config(), self._timers
        timeout = timers.scaled(timers.attempt_timeout)
        link.local_ip = config.listener.address.host
        try:
            route = await asyncio.shield(self._route(link.domain))
        except DnsError as error:
            if link.charged is not None:  # the copy's own connection reports it, once
                self._dns_failure(link, error)
            return None
        reached = await connect_first(route.targets, local_name=config.hostname, timeout=timeout,
                                      no_hosts="no MX host", trying=link.trying)
        if isinstance(reached, NotReached):
            self._before_hand_over(link, reached.error)
            return None
        client, target = reached.client, reached.target
        link.client, link.target = client, target
        link.local_ip = client.local[0]
        self.records.log(lines.tdc_new_dcid(link.dcid, link.local_ip, target.address, target.port))
        try:
            await client.ehlo()
            protocol, cipher = await client.starttls(self._tls(), server_hostname=target.hostname)
            await client.ehlo()  # the session starts over after STARTTLS (RFC 3207)
        except (SmtpTlsError, SmtpReplyError, SmtpConnectionError, SmtpTimeoutError) as error:
            self._before_hand_over(link, error)
            return None
        self.records.log(lines.dcid_tls(link.dcid, protocol, cipher))
        self._domain(link.domain).up = True
        return client

    def _before_hand_over(self, link: _Link, error: Exception) -> None:
        """A connection failed before carrying anything: its own copy pays, if it has one."""
        if link.aborted:
            return  # the hard limit cut it and said so
        domain = self._domain(link.domain)
        domain.up = False
        self.counters.failed(str(error))
        self._log_connection_error(link, error)
        copy = link.charged
        if copy is None or copy.state != "sending":
            return
        self._charge(copy, link, error)

    def _charge(self, copy: JournalCopy, link: _Link, error: Exception) -> None:
        """Apply the retry table (SPEC.md §1) to one copy, for an SMTP-side failure."""
        kind = verdict(error, retryable_5xx=TDC_RETRYABLE_5XX)
        if kind is Verdict.TLS:
            self._tls_error(copy, str(error))
        elif not isinstance(error, SmtpReplyError):  # the network, or a timeout
            self._retry_or_fail(copy, str(error))
        elif kind is Verdict.HARD:
            status = status_for(error.code, error.enhanced)
            cause = BounceCause.SMTP_5XX
            sent = lines.as_sent(error.enhanced, error.text)
            self._hard_bounce(copy, link.dcid, str(error.code), status, sent, cause)
        else:
            status = status_for(error.code, error.enhanced)
            sent = lines.as_sent(error.enhanced, error.text)
            self.records.log(lines.tdc_delayed(link.dcid, copy.mid, copy.intake, status,
                                               reason_for(status), str(error.code), sent))
            self._retry_or_fail(copy, f"{error.code} {sent}")

    def _log_connection_error(self, link: _Link, error: Exception) -> None:
        if link.aborted:
            return  # the hard limit cut it and said so
        if verdict(error) is Verdict.TLS:
            self.records.log(lines.tdc_dcid_tls_failed(link.dcid, str(error)))
            return
        if isinstance(error, SmtpReplyError):
            return  # the reply is logged with the copy it is charged to
        self._log_fault(link, connection_fault(link.target, error))

    def _log_fault(self, link: _Link, fault: ConnectionFault) -> None:
        self.records.log(lines.tdc_connection_error(link.dcid, fault.ip, fault.port, fault.details,
                                                    link.local_ip, fault.reason))

    def _dns_failure(self, link: _Link, error: DnsError) -> None:
        """Ruling 1: a DNS failure counts against every copy waiting on that domain."""
        domain = self._domain(link.domain)
        copies = [c for c in domain.ready if c.state == "queued"]
        domain.ready.clear()
        if link.charged is not None and link.charged.state == "sending":
            copies.insert(0, link.charged)
        domain.up = False
        self.counters.failed(str(error))
        hard = verdict(error) is Verdict.HARD
        self.records.log(lines.dns_failure(error.domain, error.rdtype, error.reason, permanent=hard))
        text = lines.dns_failure_text(error.domain, error.rdtype, error.reason, permanent=hard)
        for copy in copies:
            if not copy.attempted:
                copy.attempted = True
                self.counters.first_attempt()
            if hard:
                self._hard_bounce(copy, 0, "000", "5.1.2", text, BounceCause.DNS)
            else:
                self._retry_or_fail(copy, text)

    async def _carry(self, link: _Link, client: SmtpClient) -> None:
        """Send copies over this connection until none is left or it idles out."""
        domain = self._domain(link.domain)
        copy = link.charged
        while True:
            if copy is None or copy.state != "sending":
                copy = await self._wait_for_copy(link, domain)
                if copy is None:
                    await client.quit()
                    return
                self._hand_over(copy, link)
            if not await self._send(link, client, copy):
                return
            copy = None

    async def _wait_for_copy(self, link: _Link, domain: _Domain) -> JournalCopy | None:
        clock = self._clock
        idle_until = clock.monotonic() + self._timers.scaled(self._timers.idle_timeout)
        while True:
            copy = None if self.suspended else self._take(domain)
            if copy is not None:
                return copy
            left = idle_until - clock.monotonic()
            if (domain.outstanding == 0 and self._coming <= 0) or left <= 0:
                return None
            await domain.idle.wait(clock, left)

    async def _send(self, link: _Link, client: SmtpClient, copy: JournalCopy) -> bool:
        """One copy over an open connection; False when the connection is gone."""
        self.records.log(lines.tdc_delivery_start(link.dcid, copy.mid))
        body = copy.body
        if not body and self._load_body is not None:  # recovered, or let go: in the store
            body = await self._load_body(copy.mid)
            if copy.state != "sending":  # the hard limit came meanwhile: the link is fine
                return True
        try:
            await client.send("", [copy.intake], body)
        except SmtpReplyError as error:
            if copy.state == "sending":
                self._charge(copy, link, error)
            return error.stage not in ("greeting", "ehlo", "quit")
        except (SmtpConnectionError, SmtpTimeoutError, SmtpTlsError) as error:
            if copy.state == "sending":  # not already expired by the hard limit
                self._log_connection_error(link, error)
                self._charge(copy, link, error)
            return False
        if copy.state == "sending":
            self._delivered(copy)
        return True


def _size(body: MessageData) -> int:
    return len(body) if isinstance(body, bytes) else sum(len(piece) for piece in body)
