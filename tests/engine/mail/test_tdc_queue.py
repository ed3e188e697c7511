"""``the.tdc.queue`` against a scripted SETD endpoint: every row of the retry table, TLS
failures, DNS failures, the hard queue limit and the connection rules (SPEC.md §1 and §4).
Timers run at TIME_SCALE (limit 2.4 s, retry 0.2 s, attempt timeout 1.2 s, idle 0.1 s): the
timed tests here are real-time smoke runs; the exact timings are checked on a fake clock in
test_tdc_timing.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.smtp.server import DISCONNECT, HANG, Reply
from segcli.lab.dns_zone import DnsFault
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


async def _journal_one(gateway, subject: str = "hello") -> None:
    await gateway.start()
    await gateway.send(subject)
    await until(lambda: gateway.engine.tdc.counters.completed == 1, timeout=30)


def _tdc(gateway):
    return gateway.engine.counters.host("the.tdc.queue")


async def test_5xx_is_not_retried(gateway):
    gateway.setd.faults["rcpt"] = [Reply(550, "5.1.1 No such intake address")] * 5
    await _journal_one(gateway)
    assert gateway.setd.mail_commands == 1  # one attempt
    lines = gateway.tdc_lines()
    assert ("TDC: Hard bounced - 5.1.1 - Bad destination mailbox address "
            "('550', ['5.1.1 No such intake address'])") in lines
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Hard Bounced." in lines
    assert _tdc(gateway).hard_bounced_total == 1 and _tdc(gateway).delivered == 0


@pytest.mark.parametrize(("stage", "reply"), [
    ("rcpt", Reply(451, "4.3.0 Try again later")),
    ("mail", Reply(503, "5.5.1 Bad sequence")),
    ("eom", Reply(552, "5.3.4 Message too big")),
])
async def test_4xx_503_552_get_exactly_one_retry(gateway, stage, reply):
    gateway.setd.faults[stage] = [reply] * 5
    await _journal_one(gateway)
    assert gateway.setd.mail_commands == 2  # the attempt and its one retry
    lines = gateway.tdc_lines()
    assert sum("TDC: Delayed: DCID" in line for line in lines) == 2
    text = reply.text
    assert sum(line.startswith("TDC: Delayed: DCID ") and " MID 2 From: <> To: <" in line
               and line.endswith(f"('{reply.code}', ['{text}'])") for line in lines) == 2, lines
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Retries Exhausted." in lines
    assert _tdc(gateway).soft_bounced_events == 2 and _tdc(gateway).hard_bounced_total == 1


async def test_a_4xx_then_success_on_the_retry(gateway):
    gateway.setd.faults["rcpt"] = [Reply(421, "4.7.0 Busy")]
    started = time.monotonic()
    await _journal_one(gateway)
    assert time.monotonic() - started >= 10 * 0.02  # the retry waited retry_delay (scaled)
    assert len(gateway.setd.messages) == 1 and _tdc(gateway).delivered == 1


async def test_missing_starttls_is_a_tls_error_without_retry(gateway):
    gateway.setd.starttls = False
    await _journal_one(gateway)
    assert gateway.setd.mail_commands == 0  # no mail ever sent in clear text
    lines = gateway.tdc_lines()
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense:TLS Error." in lines
    assert _tdc(gateway).hard_bounced_total == 1


async def test_untrusted_certificate_is_a_tls_error_without_retry(gateway):
    gateway.config.trusted_cas = []  # the endpoint's CA is no longer trusted
    await _journal_one(gateway)
    assert gateway.setd.mail_commands == 0
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense:TLS Error." in gateway.tdc_lines()


async def test_connection_refused_gets_one_retry(gateway, unused_port):
    gateway.config.host_ports["mx.setd.test"] = unused_port
    await _journal_one(gateway)
    lines = gateway.tdc_lines()
    errors = [line for line in lines if line.startswith("TDC: Connection Error: DCID")]
    assert errors and all("domain: the.tdc.queue IP: 127.0.0.1 port: " in e for e in errors)
    assert all(e.endswith("details: [Errno 111] Connection refused interface: 127.0.0.1 "
                          "reason: network error") for e in errors)
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Retries Exhausted." in lines


async def test_disconnect_after_the_final_dot_is_retried_once(gateway):
    gateway.setd.faults["eom"] = [DISCONNECT]
    await _journal_one(gateway)
    [error] = [line for line in gateway.tdc_lines() if line.startswith("TDC: Connection Error:")]
    assert " details: EOF interface: " in error  # the appliance's word for it
    assert _tdc(gateway).delivered == 1 and _tdc(gateway).soft_bounced_events == 1
    assert gateway.setd.mail_commands == 2


async def test_nxdomain_is_a_hard_bounce_with_the_five_lines(gateway):
    from engine.config.changes import SetTdc

    SetTdc(True, "test@esa.example.net").apply(gateway.config)  # a domain nobody serves
    await _journal_one(gateway)
    # The sender's connection closing ("ICID 1 close") may land anywhere among them.
    log = [line for line in gateway.lines() if not line.startswith("ICID ")]
    start = log.index(next(line for line in log if line.startswith("TDC: MID 2 with Message-ID")))
    text = "DNS Hard Error looking up esa.example.net (MX) : NXDomain"
    assert log[start:start + 5] == [
        "TDC: MID 2 with Message-ID '<hello@example.org>' enqueued for forwarding to Cisco "
        "Secure Email Threat Defense to the message intake address test@esa.example.net",
        "DNS Error esa.example.net MX - NXDomain",
        f"TDC: Hard bounced - 5.1.2 - Bad destination host ('000', ['{text}'])",
        "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Hard Bounced.",
        f"Bounced: DCID 0 MID 2 to RID 0 - Bounced by destination server with response: "
        f"5.1.2 - Bad destination host ('000', ['{text}'])",
    ]
    assert _tdc(gateway).hard_bounced["dns"] == 1


async def test_servfail_is_retried_once_with_a_fresh_lookup(gateway):
    gateway.dns_zone.set_fault("setd.test", DnsFault.SERVFAIL)
    await _journal_one(gateway)
    log = gateway.log()
    assert log.count("DNS Temporary Failure setd.test MX - ServFail") == 2  # looked up again
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Retries Exhausted." in log


async def test_a_hanging_setd_expires_at_the_hard_limit(gateway):
    gateway.setd.faults["connect"] = [HANG] * 5
    started = time.monotonic()
    await _journal_one(gateway)
    elapsed = time.monotonic() - started
    limit = 120 * 0.02
    assert elapsed >= limit * 0.95  # it stayed until the limit, not less
    lines = gateway.tdc_lines()
    timeouts = [line for line in lines if "details: timeout" in line]
    assert timeouts and all("reason: connection timed out" in line for line in timeouts)
    assert "TDC: MID 2 delivery failed to Cisco Secure Email Threat Defense: Expired." in lines
    assert _tdc(gateway).hard_bounced["expired"] == 1


async def test_three_connections_while_queued_all_closed_when_drained(gateway):
    await _journal_one(gateway)
    assert gateway.setd.connections >= 3
    await until(lambda: gateway.setd.open_connections == 0)
    # the simulator may see a close a moment before the gateway counts it
    await until(lambda: _tdc(gateway).connections_out == 0
                and _tdc(gateway).pending_connections == 0)


async def test_a_backlog_opens_more_connections_up_to_the_maximum(gateway):
    gateway.config.tdc.timers.max_connections = 5
    await gateway.start()
    for n in range(12):
        await gateway.send(f"m{n}")
    await until(lambda: _tdc(gateway).delivered == 12, timeout=30)
    assert gateway.setd.connections >= 3
    await until(lambda: gateway.setd.open_connections == 0)


async def test_dcids_rise_through_the_log_across_both_queues(gateway):
    """Issue 10, item 4: DCIDs are given as connections are had, by ordinary delivery and
    the TDC queue alike, so the log never shows a DCID before a smaller one."""
    await gateway.start()
    for n in range(3):
        await gateway.send(f"m{n}")
    await until(lambda: _tdc(gateway).delivered == 3 and len(gateway.sink.messages) == 3)
    opened = [int(line.split("DCID ")[1].split()[0]) for line in gateway.lines()
              if "New SMTP DCID " in line]
    assert len(opened) >= 4 and opened == sorted(opened)


async def test_a_copy_on_a_reused_connection_gets_the_attempt_timeout(gateway):
    """The attempt timeout (60 s, scaled) holds for every reply of every copy a connection
    carries, not only its first: the second copy on a reused connection whose final dot is
    never answered is cut at the attempt timeout, well before the hard limit, and retried.
    (Checked while looking into the drill slow-setd-queue-growth, whose copies expired at
    the limit on reused connections: they had been handed over late, to slow connections.)"""
    timers = gateway.config.tdc.timers
    timers.min_connections = timers.max_connections = 1  # both copies on one connection
    timers.queue_limit = 600  # 12 s: far beyond the attempt timeout of 1.2 s
    gateway.setd.faults["eom"] = [None, HANG]  # the first copy is answered, the second not
    await gateway.start()
    gateway.engine.tdc.suspend()  # both copies wait, then go in order over one connection
    await gateway.send("first")
    await gateway.send("second")
    await until(lambda: gateway.engine.tdc.active == 2)
    gateway.engine.tdc.resume()
    await until(lambda: _tdc(gateway).delivered == 2, timeout=30)
    lines = gateway.tdc_lines()
    starts = [line for line in lines if line.startswith("TDC: Delivery start DCID ")]
    first_dcid = starts[0].split()[4]
    assert [line.split()[4] for line in starts[:2]] == [first_dcid, first_dcid]  # reused
    assert any(line.startswith(f"TDC: Connection Error: DCID {first_dcid} ")
               and "details: timeout" in line for line in lines), lines
    assert _tdc(gateway).soft_bounced_events == 1 and _tdc(gateway).hard_bounced_total == 0


async def test_bodies_beyond_the_budget_wait_in_the_store_and_go_out_the_same(gateway):
    """Issue 14 (SETD down while mail keeps coming): the queue keeps at most its budget of
    copies' bodies in memory; the others are read back from the store when a connection
    takes them, and SETD gets exactly the bytes that were stored."""
    await gateway.start()
    tdc = gateway.engine.tdc
    tdc.suspend()  # as suspenddel the.tdc.queue: nothing leaves, the copies wait
    for n in range(4):
        await gateway.send(f"m{n}")
    await until(lambda: _tdc(gateway).active == 4)
    stored = _journal_bodies(gateway)
    assert len(stored) == 4
    size = len(next(iter(stored.values())))
    tdc.bodies_in_memory = 0  # the copies queued from now on keep no body in memory
    for n in range(4, 6):
        await gateway.send(f"m{n}")
    await until(lambda: _tdc(gateway).active == 6)
    stored = _journal_bodies(gateway)
    assert 4 * size <= tdc.bodies_held < 5 * size  # only the first four are held
    tdc.resume()
    await until(lambda: _tdc(gateway).delivered == 6, timeout=30)
    received = sorted(data for _, _, data, _ in gateway.setd.messages)
    assert received == sorted(stored.values())
    assert tdc.bodies_held == 0


def _journal_bodies(gateway) -> dict[int, bytes]:
    """The journal copies' bodies as the store holds them, by MID."""
    import sqlite3

    with sqlite3.connect(gateway.engine.store.engine.url.database) as db:
        return dict(db.execute("SELECT mid, body FROM messages WHERE kind = 'journal'"))


async def test_idle_connections_wait_for_copies_on_their_way_and_close_when_none_is(gateway):
    """Issue 14: "the queue is empty" counts what the work queue is making: while a message
    is on its way, idle connections wait for its copy (up to the idle timeout) instead of
    closing and reconnecting (a TLS handshake per copy at 200 messages/s); with nothing on
    its way they close as soon as the queue is empty, long before the idle timeout."""
    gateway.config.tdc.timers.idle_timeout = 1000  # 20 s at this test's time scale
    tdc = gateway.engine.tdc
    await _journal_one(gateway, "first")
    await until(lambda: gateway.setd.open_connections == 0, timeout=5)  # nothing was coming
    opened = gateway.setd.connections
    tdc.expect()  # a message on its way through the work queue
    await gateway.send("second")
    await until(lambda: _tdc(gateway).delivered == 2)
    await asyncio.sleep(0.5)
    assert gateway.setd.open_connections >= 1  # waiting for the copy on its way
    await gateway.send("third")
    await until(lambda: _tdc(gateway).delivered == 3)
    assert gateway.setd.connections - opened == gateway.setd.open_connections  # none new
    tdc.arrived()  # it came to nothing (a spam verdict, say): the idle ones close now
    await until(lambda: gateway.setd.open_connections == 0, timeout=5)


async def test_a_copy_wakes_one_idle_connection_not_every_one(gateway, monkeypatch):
    """Issue 14: with the connections idle between copies (copies on their way), each new
    copy woke every one of them; all but one found nothing and began waiting again, each
    with a new task and timer.  A copy now wakes one: the only looks that find nothing are
    each connection's own after the copy it sent."""
    gateway.config.tdc.timers.idle_timeout = 1000  # 20 s at this test's time scale
    tdc = gateway.engine.tdc
    await _journal_one(gateway, "first")
    tdc.expect()  # a message on its way: idle connections wait for it
    try:
        await gateway.send("second")
        await until(lambda: _tdc(gateway).delivered == 2)
        (domain,) = tdc._domains.values()
        await until(lambda: len(domain.links) >= 3 and len(domain.idle) == len(domain.links))
        looks: list[bool] = []
        take = tdc._take

        def counted_take(domain):
            copy = take(domain)
            looks.append(copy is not None)
            return copy

        monkeypatch.setattr(tdc, "_take", counted_take)
        for n in range(5):
            await gateway.send(f"copy {n}")
            await until(lambda n=n: _tdc(gateway).delivered == 3 + n)
        await asyncio.sleep(0.2)
        assert looks.count(True) == 5
        assert looks.count(False) <= 5 + 1, looks  # every idle one woke each time: 5 * 3
    finally:
        tdc.arrived()
