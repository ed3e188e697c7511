"""The mail engine: listener, work queue, delivery queues and the TDC queue, wired.

Mail flow (DESIGN.md): SMTP in → durable enqueue → ``250`` → work queue (policy,
split, verdicts) → its outcome stored in one transaction → ordinary delivery and,
for clean incoming mail whose policy journals, a copy on ``the.tdc.queue``.  After a
crash, :meth:`MailEngine.start` re-runs the work queue for messages that had not
been through it, listens, and puts every stored delivery back on its queue in the
background (:attr:`MailEngine.recovery`); a journal copy stored just before the crash
whose ``enqueued`` line was never written gets it then.

Tests: tests/engine/mail/test_mail_flow.py, test_tdc_recovery.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from twisted.internet import defer
from twisted.internet.error import CannotListenError

from engine.config.model import Config, Direction, Endpoint
from engine.mail.bounce_message import Failure
from engine.mail.bounces import Bounces
from engine.mail.delivery import DeliveryQueues, Shipment
from engine.mail.journal import journal_parts
from engine.mail.listener import GatewaySmtpHandler, Intake
from engine.mail.queue_operations import QueueOperations, Redirect, Removal
from engine.mail.records import MailRecords
from engine.mail.scanner import Scanner, ScannerError
from engine.mail.spooling import BodySpool, Recovered
from engine.mail.tdc_queue import QUEUE as TDC_QUEUE
from engine.mail.tdc_queue import JournalCopy, TdcQueue, hard_limit
from engine.mail.verdicts import Verdicts, scan_in_slices
from engine.mail.work_pause import WorkGate, WorkPause
from engine.mail.work_queue import Accepted, Outcome, Part, process
from engine.observe import log_lines as lines
from engine.observe.counter_store import CounterStore
from engine.observe.counters import BounceCause, Counters
from engine.observe.mail_log import MailLog
from engine.observe.stats import CPU, human_bytes, memory_percent, read_queue_usage
from engine.observe.status_log import STATUS_DIRECTORY, STATUS_INTERVAL, STATUS_NAME, status_line
from engine.smtp import tcp_transport
from engine.smtp.resolver import DnsAnswer, DnsError, DnsResolver
from engine.smtp.server import SmtpServerConfig, SmtpServerFactory, listen_smtp
from engine.smtp.tls import ClientTls, client_context, ensure_server_certificate, server_context
from engine.store import queue_store
from engine.store.database import Store
from engine.store.group_commit import GroupCommitWriter
from engine.store.ids import IdAllocator
from engine.store.queue_store import NewDelivery, NewMessage
from engine.store.spool import SPOOL_FROM

log = logging.getLogger(__name__)

#: Stored deliveries read per page by the background recovery after a restart.
RECOVERY_PAGE = 5000


@dataclasses.dataclass
class DnsCounts:
    """What ``dnsstatus`` shows of the resolver: lookups asked of it (``requests``), the
    queries that went to a server (``network``: the cache did not have the answer) and
    those that failed (``exceptions``).  A request that did not reach the network was a
    cache hit, or shared a query already under way."""

    requests: int = 0
    network: int = 0
    exceptions: int = 0

    def since(self, earlier: DnsCounts) -> DnsCounts:
        return DnsCounts(self.requests - earlier.requests, self.network - earlier.network,
                         self.exceptions - earlier.exceptions)


class CountingResolver(DnsResolver):
    """The delivery resolver, counting for ``dnsstatus`` (the counting is all it adds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.counts = DnsCounts()
        super().__init__(*args, **kwargs)

    async def lookup(self, name: str, rdtype: str = "A") -> DnsAnswer:
        self.counts.requests += 1
        return await super().lookup(name, rdtype)

    async def _query(self, name: str, rdtype: str) -> DnsAnswer:
        self.counts.network += 1
        try:
            return await super()._query(name, rdtype)
        except DnsError:
            self.counts.exceptions += 1
            raise


#: Status line fields and the counters they show (their Lifetime column).
_STATUS_COUNTERS = {
    "InjMsg": "messages_received", "InjRcp": "recipients_received",
    "GenBncRcp": "generated_bounces", "RejRcp": "rejected_recipients",
    "DrpMsg": "dropped_messages", "SftBncEvnt": "soft_bounced_events", "CmpRcp": "completed",
    "HrdBncRcp": "hard_bounced", "DnsHrdBnc": "hard_dns", "5XXHrdBnc": "hard_5xx",
    "FltrHrdBnc": "hard_filter", "ExpHrdBnc": "hard_expired", "OtrHrdBnc": "hard_other",
    "DlvRcp": "delivered", "DelRcp": "deleted",
}


class MailEngine:
    """Owns the parts and wires them.  No part holds the engine: each is handed the few
    things it uses (a config getter, :class:`MailRecords`, an id allocator, counters, ...),
    so the parts import nothing of this module and can be built alone in tests."""

    def __init__(self, store: Store, data_dir: Path, config: Callable[[], Config], *,
                 version: str, serial: str) -> None:
        self.store = store
        self.data_dir = data_dir
        self._config = config
        self.mail_log = MailLog(data_dir / "logs" / "mail_logs", version=version, serial=serial)
        self._version, self._serial = version, serial
        #: the status log (made at start) and its period; tests shorten it
        self.status_log: MailLog | None = None
        self.status_interval = STATUS_INTERVAL
        self._status_task: asyncio.Task | None = None
        self.writer = GroupCommitWriter(store.engine)
        self.ids = IdAllocator(store.engine, writer=self.writer)
        self.counters = Counters()
        self.counter_store = CounterStore(self.counters, store.engine, self.writer)
        self.resolver = CountingResolver(
            [(s.host, s.port) for s in self.config.dns.servers], timeout=self.config.dns.timeout)
        #: the DNS counts at the last ``resetcounters`` (``dnsstatus``'s Reset column)
        self.dns_counts_reset = DnsCounts()
        self.records = MailRecords(self.mail_log, self.writer)
        self.spooling = BodySpool(data_dir, store.engine, self.writer, self.mail_log.warning)
        self._tdc_tls: tuple[tuple[str, ...], ClientTls] | None = None
        # Each part gets what it uses of the engine, and nothing else (no back-reference).
        self.tdc = TdcQueue(config=config, records=self.records, next_id=self.ids.next,
                            resolver=self.resolver, counters=self.counters, tls=self.tdc_tls,
                            load_body=self._stored_body)
        self.delivery = DeliveryQueues(config=config, records=self.records, next_id=self.ids.next,
                                       resolver=self.resolver, counters=self.counters,
                                       bounce=lambda *failed: self.bounces.send(*failed))
        self.bounces = Bounces(config=config, records=self.records, next_id=self.ids.next,
                               counters=self.counters, writer=self.writer,
                               enqueue=self.delivery.enqueue)
        self.operations = QueueOperations(self.delivery, self.tdc, self._store_destination)
        self._port: tcp_transport.Port | None = None
        self._factory: SmtpServerFactory | None = None
        self._work: set[asyncio.Task] = set()
        #: Big bodies are scanned by the scanner process, else in this thread (:meth:`_scan`).
        self.scanner = Scanner()
        self._scan_thread = ThreadPoolExecutor(1, thread_name_prefix="scan")
        self._work_gate: WorkGate[Accepted] = WorkGate()
        self._stopped = False
        #: the background recovery of the stored queue (:meth:`start`), done when every
        #: stored delivery is queued again; how many it queued and how long it took
        self.recovery: asyncio.Future[None] | None = None
        self.recovered_recipients = 0
        self.recovery_seconds: float | None = None
        #: stored deliveries read per page by the recovery (a test makes pages small)
        self.recovery_page = RECOVERY_PAGE
        #: the MIDs of the copies whose ``enqueued`` line the log holds, while recovering
        self._announced: set[int] | None = None

    @property
    def config(self) -> Config:
        return self._config()

    # -- the records (what tests and commands call on the engine) ------------------------------
    def log(self, text: str) -> None:
        self.records.log(text)

    async def settled(self) -> None:
        """Wait until every outcome noted so far is durable in the store."""
        await self.records.settled()

    def tdc_tls(self) -> ClientTls:
        """The verifying TLS client for SETD: TLS 1.2+, the trusted CAs, the host name."""
        cas = tuple(self.config.trusted_cas)
        if self._tdc_tls is None or self._tdc_tls[0] != cas:
            self._tdc_tls = (cas, client_context([c.encode() for c in cas], system_store=True))
        return self._tdc_tls[1]

    async def _stored_body(self, mid: int) -> bytes:
        """A stored message's body, read off the loop (a recovered journal copy's)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, queue_store.message_body, self.store.engine, mid)

    # -- the inbound path ---------------------------------------------------------------------
    async def accept(self, message: NewMessage) -> None:
        """Store an accepted message durably, then hand it to the work queue."""
        self._expect(message)  # its delivery connections may wait
        row = message
        try:
            row = await self.spooling.accepted(message)  # a big body: its file, durable
            await self.writer.submit(queue_store.insert_message(row))
        except BaseException as error:
            self._arrived(message)
            if isinstance(error, Exception):  # not stored (a cancel may still be)
                await self.spooling.discard(row)
            raise
        if row.spool is not None:
            self.spooling.stored()
        self.counters.received(len(message.recipients))
        if message.message_id:
            self.records.log_and_track(message.mid, lines.message_id(message.mid, message.message_id))
        self.records.log_and_track(message.mid, lines.subject(message.mid, message.subject))
        self.records.log_and_track(message.mid, lines.ready(message.mid, len(message.body), message.sender))
        self._start_work(_accepted(message, row.spool))

    def _expect(self, message: NewMessage | Accepted) -> None:
        """The message is on its way through the work queue: the connections of the queues
        it may go to wait for it rather than close (delivery's, the TDC queue's)."""
        self.delivery.expect(_domains(message.recipients))
        self.tdc.expect()

    def _arrived(self, message: NewMessage | Accepted) -> None:
        self.delivery.arrived(_domains(message.recipients))
        self.tdc.arrived()

    def _start_work(self, message: Accepted) -> None:
        self.counters.system.messages_in_work_queue += 1
        if not self._work_gate.hold(message):  # held while an operator paused the work queue
            self._spawn_work(message)

    def _spawn_work(self, message: Accepted) -> None:
        task = asyncio.ensure_future(self._process(message))
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _process(self, message: Accepted) -> None:
        try:
            scanned = None
            if len(message.body) >= SPOOL_FROM:
                scanned = await self._scan(message)
            config = self.config
            outcome = process(message, config, lambda: self.ids.next("mid"),
                              self.records.log, scanned)
            await self._store_outcome(message, outcome, config)
        except Exception:
            log.exception("work queue failed for MID %s; it stays queued for a restart", message.mid)
        finally:
            self._arrived(message)
            self.counters.system.messages_in_work_queue -= 1

    async def _scan(self, message: Accepted) -> Verdicts:
        """A big body's verdicts, found by the scanner process in its spool file
        (engine/mail/scanner.py says why not in a thread of this process).  When that
        process fails, the body is scanned here, off the loop, by the one scan thread
        (scans in parallel threads would only take the interpreter lock from the loop
        more often), so that no message waits on a broken scanner."""
        if message.spool is not None:
            try:
                return await self.scanner.scan(self.spooling.spool.path(message.spool))
            except ScannerError as error:
                log.warning("MID %s scanned in a thread: %s", message.mid, error)
        return await asyncio.get_running_loop().run_in_executor(self._scan_thread, scan_in_slices,
                                                                message.body)

    async def _store_outcome(self, message: Accepted, outcome: Outcome, config: Config) -> None:
        new_messages: list[NewMessage] = []
        deliveries: list[NewDelivery] = []
        shipments: list[Shipment] = []
        copies: list[JournalCopy] = []
        now = time.time()
        expires = message.received_at + config.delivery.max_queue_time
        for part in outcome.parts:
            part_file = message.spool if part.body is message.body else None
            if part.mid != message.mid:
                row = await self.spooling.part(_split_part(message, part), message.body,
                                               message.spool)
                new_messages.append(row)
                part_file = row.spool
            if not part.delivered:
                self._not_delivered(message, part)
                continue
            for rid, address in part.recipients:
                deliveries.append(NewDelivery(part.mid, rid, address, _domain(address), now, expires))
            shipments += Shipment.for_part(part, message)
            if part.journal_to:
                copy_message, delivery, copy = self._journal(message, part, part.journal_to,
                                                             config, now, part_file)
                new_messages.append(copy_message)
                deliveries.append(delivery)
                copies.append(copy)
        first = outcome.parts[0]
        state = "queued" if deliveries else "done"
        row_ids = await self.writer.submit(queue_store.record_work(
            message.mid, first.policy.name, state, new_messages, deliveries))
        if any(row.spool is not None for row in new_messages):
            self.spooling.stored()
        self.counters.system.generated_journals += len(copies)
        self._dispatch(deliveries, row_ids, shipments, copies)

    def _journal(self, message: Accepted, part: Part, intake: str, config: Config,
                 now: float, part_file: str | None) -> tuple[NewMessage, NewDelivery, JournalCopy]:
        """The journal copy of *part* for *intake*: its message (naming the part's spool
        file, if it has one, instead of holding the part again), its delivery on
        ``the.tdc.queue`` and the queue's record of it (stored together with the part)."""
        mid = self.ids.next("mid")
        self.records.log(lines.tdc_generated(mid, part.mid))
        head, tail = journal_parts(part.body, gateway=config.hostname, intake=intake, mid=mid,
                                   original_mid=part.mid, original_message_id=message.message_id,
                                   when=datetime.now(UTC))
        pieces = (head, part.body, tail)  # sent as they are: the part is not copied
        deadline = hard_limit(now, config.tdc.timers)
        copy_message = BodySpool.journal(NewMessage(
            mid=mid, icid=0, sender="", recipients=(intake,), body=b"", received_at=now,
            message_id=message.message_id, subject=message.subject, direction="incoming",
            kind="journal", origin_mid=part.mid, policy=part.policy.name, state="queued"),
            pieces, part_file)
        delivery = NewDelivery(mid, 0, intake, TDC_QUEUE, now, deadline)
        copy = JournalCopy(mid=mid, original_mid=part.mid, row_id=0, intake=intake,
                           message_id=message.message_id, body=pieces, enqueued_at=now,
                           deadline=deadline, stored_whole=part_file is None)
        return copy_message, delivery, copy

    def _not_delivered(self, message: Accepted, part: Part) -> None:
        """Dropped or bounced by a verdict: the recipients are completed here, a bounce
        counting as a filter hard bounce of each recipient's host and a drop as a deleted
        recipient (so received + generated = completed + active holds)."""
        if part.bounce_reason:
            status, _, reason = part.bounce_reason.partition(" ")
            for rid, address in part.recipients:
                host = self.counters.host(_domain(address))
                host.queued()
                host.hard_bounce(BounceCause.FILTER, attempted=False)
                self.records.log_and_track(part.mid, lines.bounced(
                    0, part.mid, message.sender, address, rid, status, reason, "000", reason))
            self.bounces.send(part.mid, message.sender,
                              [(rid, Failure(address, status, reason, "000", reason))
                               for rid, address in part.recipients],
                              part.body, message.received_at)
            self.records.log(lines.message_finished(part.mid, "aborted"))
        else:  # dropped: the appliance ends it as done (``Message aborted ...`` said why)
            self.counters.system.dropped_messages += 1
            for _, address in part.recipients:  # completed: deleted by the system
                host = self.counters.host(_domain(address))
                host.queued()
                host.removed()
            self.records.log(lines.message_finished(part.mid))

    def _dispatch(self, deliveries: list[NewDelivery], row_ids: list[int],
                  shipments: list[Shipment], copies: list[JournalCopy]) -> None:
        """Put the stored deliveries on their queues, now that they are durable."""
        ids = {(d.mid, d.rid, d.destination): row for d, row in zip(deliveries, row_ids, strict=True)}
        for shipment in shipments:
            shipment.row_ids = [ids[(shipment.mid, rid, shipment.destination)]
                                for rid, _ in shipment.recipients]
            self.delivery.enqueue(shipment)
        for copy in copies:
            copy.row_id = ids[(copy.mid, 0, TDC_QUEUE)]
            self.tdc.enqueue(copy)

    # -- what operators do --------------------------------------------------------------------
    def pause_work(self, user: str, reason: str) -> bool:
        """``workqueue pause``: accepted messages wait, stored, until resumed (False when
        already paused)."""
        return self._work_gate.close(user, reason)

    def resume_work(self) -> int:
        """``workqueue resume``: process what waited, oldest first; returns how many."""
        held = self._work_gate.open()
        for message in held:
            self._spawn_work(message)
        return len(held)

    @property
    def work_pause(self) -> WorkPause | None:
        return self._work_gate.pause

    def inbound_peers(self) -> list[str]:
        """The remote IP address of each open inbound connection (``topin``)."""
        if self._factory is None:
            return []
        return [protocol.peer[0] for protocol in self._factory.connections]

    def suspend_delivery(self) -> None:
        self.delivery.suspend()
        self.tdc.suspend()

    def resume_delivery(self) -> None:
        self.delivery.resume()
        self.tdc.resume()

    @property
    def delivery_suspended(self) -> bool:
        return self.delivery.suspended

    def deliver_now(self, host: str | None = None) -> int:
        """Retry at once what waits for a retry (for *host*, or everything)."""
        count = 0
        if host in (None, TDC_QUEUE):
            count += self.tdc.deliver_now()
        if host != TDC_QUEUE:
            count += self.delivery.deliver_now(host)
        return count

    def remove_recipients(self, *, host: str | None = None, sender: str | None = None,
                          bounce: bool, user: str) -> int:
        """``deleterecipients`` / ``bouncerecipients``: queued recipients not in flight, by
        recipient host or envelope sender; returns how many recipients were removed now.
        While :attr:`recovering`, the stored ones not read yet are removed as they are read
        (:mod:`engine.mail.queue_operations`)."""
        return self.operations.remove(Removal(host, sender, bounce, user))

    async def oldest_queued(self, host: str) -> float | None:
        """When the oldest message still queued for *host* (the.tdc.queue included) was
        received; None when none is.  From the queues in memory (a scan: milliseconds at
        a million recipients); while :attr:`recovering`, from the store, which has the
        part not read yet too (a query over the host's rows, off the loop: 0.2 s at a
        million)."""
        if self.recovering:
            return await asyncio.to_thread(queue_store.oldest_active, self.store.engine, host)
        return self.tdc.oldest() if host == TDC_QUEUE else self.delivery.oldest(host)

    @property
    def recovering(self) -> bool:
        """The stored queue is still being read back after the restart."""
        return self.operations.recovering

    @property
    def dns_counts(self) -> DnsCounts:
        """The resolver's counts since this process started (``dnsstatus``)."""
        return self.resolver.counts

    def reset_dns_counts(self) -> None:
        """``resetcounters``: the Reset column of ``dnsstatus`` starts again from zero."""
        self.dns_counts_reset = dataclasses.replace(self.dns_counts)

    # -- the status log -------------------------------------------------------------------
    def _start_status_log(self) -> None:
        """Open ``logs/status/status.current`` and write a line every ``status_interval``."""
        if self.status_log is None:
            self.status_log = MailLog(self.data_dir / "logs" / STATUS_DIRECTORY,
                                      version=self._version, serial=self._serial,
                                      name=STATUS_NAME)
        if self._status_task is None:
            self._status_task = asyncio.ensure_future(self._status_loop())

    async def _status_loop(self) -> None:
        """One line a period; a failure to gather the figures is logged and the next
        period tries again (the status log must never stop the mail)."""
        while True:
            await asyncio.sleep(self.status_interval)
            try:
                line = status_line(await self.status_figures())
            except Exception:
                log.exception("the status line could not be made")
                continue
            if self.status_log is not None:
                self.status_log.info(line)

    async def _stop_status_log(self) -> None:
        if self._status_task is not None:
            task, self._status_task = self._status_task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.status_log is not None:
            self.status_log.close()

    async def status_figures(self) -> dict[str, int | str]:
        """The status line's figures: lifetime counters, gauges, current ids, DNS counts,
        the queue's and the logging disk's space, CPU and memory."""
        usage = await read_queue_usage(self.store.engine, self.data_dir)
        totals = {key: column.lifetime for key, column in self.counters.totals().items()}
        hosts = list(self.counters.hosts.values())
        unattempted = sum(h.unattempted for h in hosts)
        attempted = sum(h.attempted for h in hosts)
        dns = self.dns_counts
        cpu = CPU.percent()
        figures: dict[str, int | str] = {
            "CPULd": cpu, "TotalLd": cpu, "RAMUtil": memory_percent(),
            "QKUsd": usage.kilobytes_used, "QKFre": usage.kilobytes_free,
            "CrtMID": max(0, self.ids.current("mid")), "CrtICID": max(0, self.ids.current("icid")),
            "CrtDCID": max(0, self.ids.current("dcid")),
            "ActvRcp": unattempted + attempted, "UnatmptRcp": unattempted, "AtmptRcp": attempted,
            "CrtCncIn": self.counters.system.connections_in,
            "CrtCncOut": sum(h.connections_out + h.pending_connections for h in hosts),
            "DnsReq": dns.requests, "NetReq": dns.network, "CchHit": dns.requests - dns.network,
            "CchMis": dns.network, "CchEct": dns.exceptions,
            "DstInMem": len(hosts), "WorkQ": self.counters.system.messages_in_work_queue,
            "LogUsd": usage.logging_disk_percent,
            "LogAvail": human_bytes(usage.logging_available),
        }
        figures.update({field: totals.get(key, 0) for field, key in _STATUS_COUNTERS.items()})
        return figures

    async def redirect_recipients(self, host: str) -> int:
        """``redirectrecipients``: every queued recipient of an ordinary destination that is
        not in flight goes to *host* instead: a host name (its MX, else its address), an IP
        address, either optionally with ``:port`` (delivery treats an IP address or a
        ``host:port`` destination as that machine: engine.smtp.outbound.route_for).

        Journal copies stay on the.tdc.queue: their destination is the intake address.  The
        moved recipients count under *host* from now on, as not yet attempted there, and
        their rows name *host*, so a restart resumes them there.  Returns how many moved
        now; while :attr:`recovering`, the stored ones not read yet move as they are read.
        """
        return await self.operations.redirect(Redirect(host))

    async def _store_destination(self, row_ids: list[int], host: str) -> None:
        if row_ids:
            await self.writer.submit(queue_store.redirect_deliveries(row_ids, host))

    def queued_recipients(self) -> list[dict]:
        """``showrecipients``: every recipient still queued (the.tdc.queue's copies too),
        with its message's sender, size and subject, by MID and RID.  Reads the store, so
        call it off the event loop."""
        q = queue_store
        query = (select(q.DELIVERIES.c.mid, q.DELIVERIES.c.rid, q.DELIVERIES.c.recipient,
                        q.DELIVERIES.c.destination, q.DELIVERIES.c.attempts,
                        q.MESSAGES.c.sender, q.MESSAGES.c.size, q.MESSAGES.c.subject)
                 .join(q.MESSAGES, q.MESSAGES.c.mid == q.DELIVERIES.c.mid)
                 .where(q.DELIVERIES.c.state == q.ACTIVE)
                 .order_by(q.DELIVERIES.c.mid, q.DELIVERIES.c.rid))
        with self.store.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def queued_message(self, mid: int) -> dict | None:
        """``showmessage``: the message *mid* (body included) while any recipient of it is
        queued; None otherwise.  Reads the store, so call it off the event loop."""
        q = queue_store
        queued = (select(q.DELIVERIES.c.id)
                  .where(q.DELIVERIES.c.mid == mid, q.DELIVERIES.c.state == q.ACTIVE).limit(1))
        with self.store.engine.connect() as connection:
            if connection.execute(queued).first() is None:
                return None
            row = connection.execute(select(q.MESSAGES).where(q.MESSAGES.c.mid == mid)).first()
        if row is None:
            return None
        message = dict(row._mapping)
        # a spooled body is read whole; a missing file shows what the row holds
        q.with_bodies([message], self.spooling.spool.read_now)
        if isinstance(message["body"], tuple):
            message["body"] = b"".join(message["body"])
        return message

    async def suspend_listener(self) -> bool:
        """Stop accepting connections (open ones may finish); False if already suspended."""
        if self._port is None:
            return False
        port, self._port = self._port, None
        await self._stop_listening(port)
        return True

    @staticmethod
    async def _stop_listening(port: tcp_transport.Port) -> None:
        await defer.maybeDeferred(port.stopListening).asFuture(asyncio.get_running_loop())

    def resume_listener(self) -> bool:
        if self._port is not None or self._factory is None:
            return False
        self._port = listen_smtp(self._factory, self._endpoint.port, self._endpoint.host)
        return True

    @property
    def listener_suspended(self) -> bool:
        return self._port is None and self._factory is not None

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self, endpoint: Endpoint) -> int:
        """Listen, then recover the stored queue in the background; returns the port
        (useful with port 0).

        A restart with a big queue (a million recipients waiting for a host that is down)
        must not keep senders out while it reads it: only the messages not through the
        work queue and the last delivery row id are read before listening; the stored
        deliveries up to that id follow in pages (:attr:`recovery`, done when all are
        queued again).  Nothing acknowledged is lost: every row is durable and is queued
        once, by this recovery or, for rows added after the start, by whoever added it."""
        await self.counter_store.load()
        self.counter_store.start()
        last_id = await self._recover_unprocessed()
        config = self.config
        certificate = ensure_server_certificate(self.data_dir / "tls", (config.hostname,))
        intake = Intake(config=self._config, log=self.records.log, next_id=self.ids.next,
                        counters=self.counters, accept=self.accept)
        factory = SmtpServerFactory(
            lambda: GatewaySmtpHandler(intake),
            SmtpServerConfig(hostname=config.hostname,
                             max_message_size=config.listener.max_message_size,
                             tls_context=server_context(certificate)),
        )
        self._factory = factory
        self._start_status_log()
        self.spooling.start()
        port = self._port = listen_smtp(factory, endpoint.port, endpoint.host)
        self._endpoint = Endpoint(endpoint.host, port.getHost().port)
        self.operations.recovery_started()  # commands from now on reach every page
        self.recovery = asyncio.ensure_future(self._recover_deliveries(last_id))
        self.recovery.add_done_callback(_log_recovery_failure)
        return self._endpoint.port

    async def recover(self) -> None:
        """Resume after a restart (or a crash), all of it before returning: nothing
        acknowledged is lost.  (:meth:`start` does the same with the listener up between
        the two steps.)"""
        last_id = await self._recover_unprocessed()
        self.operations.recovery_started()
        await self._recover_deliveries(last_id)

    async def _recover_unprocessed(self) -> int:
        """Put the messages not through the work queue back to work; the last stored
        delivery row id, up to which :meth:`_recover_deliveries` reads.

        Both come from one read before any work starts: work that ran meanwhile stores and
        queues its deliveries itself (with higher row ids), so none is queued twice."""
        loop = asyncio.get_running_loop()
        unprocessed, last_id = await loop.run_in_executor(
            None, queue_store.recovery_start, self.store.engine)
        # spool files no row names go; the unprocessed messages' spooled bodies are read
        recovered = await loop.run_in_executor(None, self.spooling.recover, unprocessed, [])
        await self.spooling.report(recovered)  # messages whose body file is missing
        unprocessed = recovered.unprocessed
        for row in unprocessed:
            message = _accepted_from_row(row)
            self._expect(message)
            self._start_work(message)
        return last_id

    async def _recover_deliveries(self, last_id: int) -> None:
        """Queue every stored active delivery with a row id up to *last_id*, a page at a
        time (read off the loop, the next one while this one is queued; the loop serves SMTP
        and commands between pages).

        A message's rows are contiguous (stored in one transaction), but a page may end in
        the middle of them: those rows wait for the next page, so each message is one
        shipment per destination, as before the restart.  Operators' commands given
        meanwhile reach each page before any connection does (:attr:`operations`)."""
        try:
            await self._recover_pages(last_id)
        finally:
            self.operations.recovery_ended()
            self._announced = None

    async def _recover_pages(self, last_id: int) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        held, size = list[dict](), self.recovery_page
        def read(after: int) -> asyncio.Future[tuple[list[dict], Recovered]]:
            return loop.run_in_executor(None, self._read_page, after, last_id, size)

        reading = read(0)
        while True:
            page, recovered = await reading
            done = len(page) < size
            if not done:  # the next page is read while this one is queued
                reading = read(page[-1]["id"])
            await self.spooling.report(recovered)  # messages whose body file is missing
            rows, held = held + recovered.active, []
            if not done and rows:
                cut = len(rows)
                while cut and rows[cut - 1]["mid"] == rows[-1]["mid"]:
                    cut -= 1
                rows, held = rows[:cut], rows[cut:]
            await self._queue_rows(rows, last_id)
            self.recovered_recipients += len(rows)
            if done:
                break
        self.recovery_seconds = time.monotonic() - started
        log.info("queue recovered: %d recipients in %.1f s", self.recovered_recipients,
                 self.recovery_seconds)

    def _read_page(self, after: int, last_id: int, size: int) -> tuple[list[dict], Recovered]:
        """In a thread: a page of stored deliveries (:func:`queue_store.active_deliveries_page`)
        and what goes on of it, spooled bodies read (:meth:`BodySpool.recover_page`)."""
        page = queue_store.active_deliveries_page(self.store.engine, after, last_id, size)
        return page, self.spooling.recover_page(list(page))

    async def _queue_rows(self, rows: list[dict], last_id: int) -> None:
        """Put recovered delivery rows (whole messages) on their queues."""
        unannounced = await self._unannounced(
            [r for r in rows if r["destination"] == TDC_QUEUE], last_id)
        ordinary: dict[tuple[int, str], list[dict]] = defaultdict(list)
        copies: list[tuple[JournalCopy, bool]] = []
        for row in rows:
            if row["destination"] == TDC_QUEUE:
                copies.append((_copy_from_row(row), row["mid"] in unannounced))
            else:
                ordinary[(row["mid"], row["destination"])].append(row)
        await self.operations.queue_recovered(
            [Shipment.from_rows(group) for group in ordinary.values()], copies)

    async def _unannounced(self, copies: list[dict], last_id: int) -> set[int]:
        """The MIDs of recovered journal copies whose ``enqueued`` line was never written:
        the process died between storing the copy (after ``was generated based on``) and
        logging it.  The log is the record of what was written, so it is asked, once per
        recovery (at the first page with copies): the MIDs of every ``enqueued`` line in
        the files written to since the oldest copy to recover was made (mail.current,
        nearly always).  (Asking it again for each page, one search per copy, made the
        recovery grow with the square of the copies.)"""
        if not copies:
            return set()
        if self._announced is None:
            loop = asyncio.get_running_loop()
            since = await loop.run_in_executor(None, queue_store.oldest_active_received,
                                               self.store.engine, TDC_QUEUE, last_id)
            self.records.mail_log.flush()
            found = await loop.run_in_executor(
                None, self.records.mail_log.found, lines.TDC_ENQUEUED_MID,
                min(row["received_at"] for row in copies) if since is None else since)
            self._announced = {int(mid) for mid in found}
        return {row["mid"] for row in copies if row["mid"] not in self._announced}

    async def stop(self) -> None:
        """Stop listening and delivering; what is queued stays stored.  Safe to repeat."""
        if self._stopped:
            return
        self._stopped = True
        if self.recovery is not None and not self.recovery.done():
            self.recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.recovery
        if self._port is not None:
            port, self._port = self._port, None
            await self._stop_listening(port)
        if self._factory is not None:
            self._factory.close_all()
        for task in list(self._work):
            await asyncio.wait([task], timeout=5)
        await self.tdc.stop()
        await self.delivery.stop()
        await self.resolver.close()
        self.records.flush()
        await self._stop_status_log()
        await self.counter_store.stop()
        await self.spooling.stop()
        await self.scanner.close()
        self._scan_thread.shutdown(wait=False, cancel_futures=True)  # a scan under way ends alone
        self.writer.close()
        self.mail_log.close()

    def apply_config(self, config: Config) -> None:
        """A new configuration was committed: follow it where it matters at once (the
        listener's address is the appliance's business: see :meth:`listen_on`)."""
        self.resolver.configure([(s.host, s.port) for s in config.dns.servers],
                                timeout=config.dns.timeout)
        if self._factory is not None:  # new connections get the new greeting and size limit
            self._factory.config = dataclasses.replace(
                self._factory.config, hostname=config.hostname,
                max_message_size=config.listener.max_message_size)

    @property
    def endpoint(self) -> Endpoint | None:
        """Where the listener listens (or would, while suspended); None before start."""
        return self._endpoint if self._factory is not None else None

    async def listen_on(self, endpoint: Endpoint) -> None:
        """Move the listener to *endpoint* (a committed address change).  Open connections
        carry on.  Raises CannotListenError when the new address cannot be had; the
        listener then stays where it was."""
        if self._factory is None or endpoint == self._endpoint:
            return
        if self._port is None:  # suspended: resuming listens on the new address
            self._endpoint = endpoint
            return
        old = self._port
        try:
            port = listen_smtp(self._factory, endpoint.port, endpoint.host)
        except CannotListenError:
            if endpoint.port != self._endpoint.port:
                raise
            # the same port on another address (127.0.0.1 -> 0.0.0.0): let go of it first
            await self._stop_listening(old)
            try:
                port = listen_smtp(self._factory, endpoint.port, endpoint.host)
            except CannotListenError:
                self._port = listen_smtp(self._factory, self._endpoint.port, self._endpoint.host)
                raise
        else:
            await self._stop_listening(old)
        self._port = port
        self._endpoint = Endpoint(endpoint.host, port.getHost().port)


def _log_recovery_failure(recovery: asyncio.Future[None]) -> None:
    """A recovery that failed leaves its rows stored (a restart tries again): say so."""
    if not recovery.cancelled() and recovery.exception() is not None:
        log.error("queue recovery failed; the rest of the stored queue waits for a restart",
                  exc_info=recovery.exception())


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _domains(recipients: Iterable[str]) -> set[str]:
    return {_domain(address) for address in recipients}


def _accepted(message: NewMessage, spool: str | None) -> Accepted:
    return Accepted(mid=message.mid, icid=message.icid, sender=message.sender,
                    recipients=tuple(message.recipients), body=message.body,
                    received_at=message.received_at, message_id=message.message_id,
                    subject=message.subject, direction=Direction(message.direction),
                    spool=spool)


def _accepted_from_row(row: dict) -> Accepted:
    import json

    return Accepted(mid=row["mid"], icid=row["icid"], sender=row["sender"],
                    recipients=tuple(json.loads(row["envelope"])), body=row["body"],
                    received_at=row["received_at"], message_id=row["message_id"],
                    subject=row["subject"], direction=Direction(row["direction"]),
                    spool=row["spool"])


def _split_part(message: Accepted, part: Part) -> NewMessage:
    return NewMessage(
        mid=part.mid, icid=message.icid, sender=message.sender,
        recipients=tuple(address for _, address in part.recipients), body=part.body,
        received_at=message.received_at, message_id=message.message_id,
        subject=message.subject, direction=message.direction.value, kind="split",
        origin_mid=message.mid, policy=part.policy.name, state="queued")


def _copy_from_row(row: dict) -> JournalCopy:
    """A recovered copy; its body b"" when the row has none: read when sent (TdcQueue._send)."""
    return JournalCopy(mid=row["mid"], original_mid=row["origin_mid"] or row["mid"],
                       row_id=row["id"], intake=row["recipient"], message_id=row["message_id"],
                       body=row["body"] or b"", enqueued_at=row["received_at"],
                       deadline=row["expires_at"], failures=row["attempts"],
                       attempted=row["attempts"] > 0)
