"""The TDC queue's timings on a fake clock, at the rulings' own values (SPEC.md §4 rulings
2 and 3: retry 10 s after the failure, hard limit at enqueue + 120 s).

Everything is real -- the SETD stand-in with TLS on a loopback port, the lab DNS zone, the
mail log, the store -- except time: the queue runs on a :class:`FakeClock`, which stands
still until a test advances it, so each test can show that nothing happens a moment
before the due time and that it happens at it.  The real-time runs of the same rules are
in test_tdc_queue.py.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.config.changes import SetTdc, replay
from engine.config.model import Config, Endpoint
from engine.mail.records import MailRecords
from engine.mail.tdc_queue import JournalCopy, TdcQueue, hard_limit
from engine.observe.counters import Counters
from engine.observe.mail_log import MailLog
from engine.smtp.resolver import DnsResolver
from engine.smtp.server import HANG, Reply
from engine.smtp.tls import client_context
from engine.store.database import Store
from engine.store.group_commit import GroupCommitWriter
from tests.engine.gateway_lab import INTAKE, Endpoint_, ScriptedHandler, until
from tests.engine.mail.fake_clock import FakeClock

pytestmark = pytest.mark.usefixtures("run")

#: A moment before a due time: the fake clock is exact, so any sliver will do.
JUST_BEFORE = 0.001
#: Real time given to the queue and the SETD stand-in to show that nothing happens.
SETTLE = 0.3


@dataclass
class TdcLab:
    queue: TdcQueue
    clock: FakeClock
    config: Config
    setd: Endpoint_
    counters: Counters
    mail_log: MailLog

    def enqueue(self, mid: int = 2) -> JournalCopy:
        """A journal copy enqueued now (fake time), as the engine makes one."""
        now = self.clock.time()
        copy = JournalCopy(mid=mid, original_mid=1, row_id=0, intake=INTAKE,
                           message_id="<hello@example.org>",
                           body=b"Subject: hello\r\n\r\nclean body\r\n", enqueued_at=now,
                           deadline=hard_limit(now, self.config.tdc.timers))
        self.queue.enqueue(copy)
        return copy

    def lines(self) -> list[str]:
        """The mail log's lines without the time stamp and level."""
        self.mail_log.flush()
        return [line[25:].partition(": ")[2] for line in self.mail_log.path.read_text().splitlines()]


@pytest.fixture
def tdc(run, tmp_path: Path, dns_zone, smtp_servers, tls_material, server_tls):
    setd = Endpoint_()
    _, setd_port = smtp_servers.start(lambda: ScriptedHandler(setd), tls_context=server_tls)
    dns_zone.add_mail_domain("setd.test", "mx.setd.test")
    config = replay(Config(), [SetTdc(True, INTAKE)])
    config.hostname = "gw.example.com"
    config.dns.servers = [Endpoint(*dns_zone.address)]
    config.host_ports = {"mx.setd.test": setd_port}
    config.trusted_cas = [tls_material.ca_pem().decode()]
    assert config.tdc.timers.time_scale == 1.0  # the rulings' own values: the clock is fake
    store = Store.open(tmp_path / "data")
    writer = GroupCommitWriter(store.engine)
    mail_log = MailLog(tmp_path / "logs", version="15.5.1-055", serial="S")
    clock, counters, ids = FakeClock(), Counters(), itertools.count(100)
    tls = client_context([c.encode() for c in config.trusted_cas], system_store=True)
    queue = TdcQueue(config=lambda: config, records=MailRecords(mail_log, writer),
                     next_id=lambda _kind: next(ids), resolver=DnsResolver.from_settings(config.dns),
                     counters=counters, tls=lambda: tls, clock=clock)
    yield TdcLab(queue, clock, config, setd, counters, mail_log)
    run(queue.stop())
    writer.close()
    mail_log.close()
    store.close()


async def test_the_retry_comes_exactly_retry_delay_after_the_failure(tdc):
    """Ruling 2: one retry, 10 s after the failure -- not at once, not later, and not
    counted from the enqueue."""
    answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
    tdc.setd.faults["rcpt"] = [answer]  # the 4xx comes when the test says so
    copy = tdc.enqueue()
    await until(lambda: tdc.setd.mail_commands == 1)
    tdc.clock.advance(3.0)  # the attempt takes 3 s
    answer.set_result(Reply(451, "4.3.0 Try again later"))
    await until(lambda: copy.state == "waiting")
    failed_at = tdc.clock.monotonic()
    assert failed_at == 3.0

    tdc.clock.advance_to(failed_at + 10 - JUST_BEFORE)  # past enqueue + 10 s, too
    await asyncio.sleep(SETTLE)
    assert copy.state == "waiting" and tdc.setd.mail_commands == 1

    tdc.clock.advance_to(failed_at + 10)
    assert copy.state == "sending"  # handed to a new connection at once
    await until(lambda: tdc.counters.host("the.tdc.queue").delivered == 1)
    assert tdc.setd.mail_commands == 2 and len(tdc.setd.messages) == 1
    assert "TDC: MID 2 successfully delivered for scanning with Cisco Secure Email Threat Defense." \
        in tdc.lines()


async def test_the_hard_limit_is_exactly_120_seconds_after_the_enqueue_and_aborts_the_attempt(tdc):
    """Ruling 3: at enqueue + 120 s (not 130, not earlier) the copy leaves the queue in the
    middle of its attempt: the connection is cut and the copy logged Expired."""
    tdc.clock.advance(7.0)  # enqueued at 7 s of the clock: the limit counts from there
    tdc.setd.faults["eom"] = [HANG]  # SETD takes the message and never answers
    copy = tdc.enqueue()
    await until(lambda: tdc.setd.mail_commands == 1)
    await asyncio.sleep(SETTLE)  # the message is on the wire; the attempt waits for a reply
    link = copy.link
    assert copy.state == "sending" and link is not None and link.client is not None

    tdc.clock.advance_to(7 + 120 - JUST_BEFORE)
    await asyncio.sleep(SETTLE)
    assert copy.state == "sending" and not link.client.closed
    assert not any("Expired" in line for line in tdc.lines())

    tdc.clock.advance_to(7 + 120)
    assert copy.state == "done" and link.client.closed  # aborted, not left to time out
    await until(lambda: tdc.setd.open_connections == 0, timeout=5)  # SETD saw it go
    await until(lambda: link not in tdc.queue._domain("setd.test").links)
    lines = tdc.lines()
    port = tdc.config.host_ports["mx.setd.test"]
    assert (f"TDC: Connection Error: DCID {link.dcid} domain: the.tdc.queue IP: 127.0.0.1 "
            f"port: {port} details: timeout interface: 127.0.0.1 reason: connection timed out"
            ) in lines
    assert lines[-3:] == [
        "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Expired.",
        "Message finished MID 2 aborted",
        f"DCID {link.dcid} close",  # after the message, as in ordinary delivery
    ]
    tdc_counters = tdc.counters.host("the.tdc.queue")
    assert tdc_counters.hard_bounced["expired"] == 1 and tdc_counters.delivered == 0
    assert tdc.setd.messages == []  # the hung transaction never completed


async def test_the_hard_limit_ends_a_copy_waiting_for_its_retry(tdc, unused_port):
    """A copy whose retry would come after its limit leaves at the limit, not at the retry."""
    tdc.config.tdc.timers.retry_delay = 200.0
    tdc.config.host_ports["mx.setd.test"] = unused_port  # connection refused: retryable
    copy = tdc.enqueue()
    await until(lambda: copy.state == "waiting")
    tdc.clock.advance_to(120 - JUST_BEFORE)
    assert copy.state == "waiting"
    tdc.clock.advance_to(120)
    assert copy.state == "done"
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Expired." in tdc.lines()


async def test_the_retry_after_a_failed_connection_opens_the_minimum_of_connections(
        tdc, unused_port):
    """SPEC.md §1: at least 3 connections while the queue has entries -- also for the retry
    that follows a failed connection (issue 10, item 1).  The extra ones carry nothing: the
    copy is sent once."""
    setd_port = tdc.config.host_ports["mx.setd.test"]
    tdc.config.host_ports["mx.setd.test"] = unused_port  # the first attempt is refused
    copy = tdc.enqueue()
    await until(lambda: copy.state == "waiting")
    await until(lambda: tdc.queue.connections() == 0)
    tdc.config.host_ports["mx.setd.test"] = setd_port  # SETD is back for the retry
    tdc.clock.advance(10.0)
    await until(lambda: tdc.counters.host("the.tdc.queue").delivered == 1)
    await until(lambda: tdc.setd.connections >= 3)
    assert tdc.setd.mail_commands == 1 and len(tdc.setd.messages) == 1
    assert copy.failures == 1  # the extra connections charged nobody


def _connection_errors(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("TDC: Connection Error:")]


@pytest.mark.parametrize("stage", ["connect", "ehlo"])
async def test_an_attempt_cut_by_the_hard_limit_is_logged_once_and_ends_there(tdc, stage):
    """Ruling 3, one line per event (issue 10, item 2): the attempt the limit cuts -- also
    before the greeting, when no client exists yet -- is cancelled, its connection closed,
    and its own failure is not logged after the limit's Connection Error."""
    tdc.config.tdc.timers.min_connections = 1  # only the copy's own connection
    tdc.setd.faults[stage] = [HANG]
    copy = tdc.enqueue()
    await until(lambda: tdc.setd.open_connections == 1)
    await asyncio.sleep(SETTLE)
    link = copy.link
    assert link is not None
    tdc.clock.advance_to(120)
    assert copy.state == "done"
    await until(lambda: tdc.setd.open_connections == 0, timeout=5)  # cut, not left to time out
    await until(lambda: tdc.queue.connections() == 0, timeout=5)
    await asyncio.sleep(SETTLE)
    lines = tdc.lines()
    port = tdc.config.host_ports["mx.setd.test"]
    assert _connection_errors(lines) == [
        f"TDC: Connection Error: DCID {link.dcid} domain: the.tdc.queue IP: 127.0.0.1 "
        f"port: {port} details: timeout interface: 127.0.0.1 reason: connection timed out"]
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Expired." in lines


async def test_each_connection_logs_its_close_and_dcids_come_in_order(tdc):
    """Issue 10, item 4: a TDC connection ends with ``DCID n close`` as an ordinary
    delivery's does, and DCIDs are given in the order the connections are opened: the log
    shows them rising."""
    tdc.enqueue()
    await until(lambda: tdc.counters.host("the.tdc.queue").delivered == 1)
    await until(lambda: tdc.queue.connections() == 0)  # all closed: nothing is left
    assert tdc.setd.connections == 3
    lines = tdc.lines()
    opened = [int(line.split()[4]) for line in lines if line.startswith("TDC: New SMTP DCID ")]
    assert len(opened) == 3 and opened == sorted(opened)
    closed = [int(line.split()[1]) for line in lines
              if line.startswith("DCID ") and line.endswith(" close")]
    assert sorted(closed) == opened
    for dcid in opened:
        assert lines.index(f"DCID {dcid} close") > lines.index(
            next(line for line in lines if line.startswith(f"TDC: New SMTP DCID {dcid} ")))


async def test_the_oldest_enqueued_copy_follows_the_queue_from_memory(tdc):
    """``hoststatus the.tdc.queue``'s Oldest Message comes from the queue itself: the
    oldest copy still on it, whatever the order they leave in, and None once it is empty;
    what it remembers of done copies does not outlive them."""
    tdc.setd.faults["eom"] = [HANG]  # SETD takes the first message and never answers
    assert tdc.queue.oldest() is None
    first = tdc.enqueue(mid=2)
    await until(lambda: tdc.setd.mail_commands == 1)
    tdc.clock.advance(10.0)
    second = tdc.enqueue(mid=3)  # a younger one, delivered: it leaves first
    await until(lambda: second.state == "done")
    tdc.setd.faults["eom"] = [HANG]
    tdc.clock.advance(10.0)
    third = tdc.enqueue(mid=4)
    await until(lambda: tdc.setd.mail_commands == 3)
    start = first.enqueued_at
    assert tdc.queue.oldest() == start and third.enqueued_at == start + 20
    tdc.clock.advance_to(120)  # the first one's limit
    assert first.state == "done"
    assert tdc.queue.oldest() == start + 20  # the third: the second is gone too
    tdc.clock.advance_to(140)
    assert third.state == "done" and tdc.queue.oldest() is None
    assert tdc.queue._ages == []  # nothing kept for copies that are done
